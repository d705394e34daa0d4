/**
 * Validates events and batch envelopes against the v1 JSON Schemas in schemas/ (the single source of
 * truth). Each schema is compiled once, when the validator is built; validating is then one call of
 * an ajv-generated function per event. `allErrors: false`: the first failure is enough for a reason
 * and it keeps a hostile event cheap to refuse.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import batchSchema from '../../schemas/batch.v1.json';
import clickSchema from '../../schemas/click.v1.json';
import commonSchema from '../../schemas/common.v1.json';
import formSchema from '../../schemas/form.v1.json';
import pageViewSchema from '../../schemas/page_view.v1.json';
import type { RejectReason } from '../errors';
import type { EventType } from '../types';
import type { CollectEvent, EventBatch } from './event-types';

/** The result of validating one event: the typed event, or a reason code with a message naming the failing path. */
export type EventValidation =
  | { readonly kind: 'valid'; readonly event: CollectEvent }
  | { readonly kind: 'invalid'; readonly code: Extract<RejectReason, 'schema_violation' | 'unknown_event_type'>; readonly message: string };

/** The result of validating a batch envelope (the events inside are judged one by one later). */
export type BatchValidation =
  | { readonly kind: 'valid'; readonly batch: EventBatch }
  | { readonly kind: 'invalid'; readonly message: string };

export class EventValidator {
  readonly #byType: Readonly<Record<EventType, ValidateFunction<CollectEvent>>>;
  readonly #batch: ValidateFunction<EventBatch>;

  constructor() {
    const ajv = new Ajv({ allErrors: false, strict: true });
    ajv.addSchema(commonSchema);
    this.#byType = {
      page_view: ajv.compile<CollectEvent>(pageViewSchema),
      click: ajv.compile<CollectEvent>(clickSchema),
      form: ajv.compile<CollectEvent>(formSchema),
    };
    this.#batch = ajv.compile<EventBatch>(batchSchema);
  }

  /** Validates one event: dispatches on `type`, so the message names the right schema's failing path. */
  validate(value: unknown): EventValidation {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return { kind: 'invalid', code: 'schema_violation', message: '/: must be an object' };
    }
    const type = (value as { type?: unknown }).type;
    const fn = typeof type === 'string' && Object.hasOwn(this.#byType, type) ? this.#byType[type as EventType] : undefined;
    if (fn === undefined) {
      return {
        kind: 'invalid',
        code: 'unknown_event_type',
        message: `/type: must be one of page_view, click, form, got ${describe(type)}`,
      };
    }
    if (fn(value)) return { kind: 'valid', event: value };
    return { kind: 'invalid', code: 'schema_violation', message: formatError(fn.errors) };
  }

  /** Validates the envelope `{type:"batch", seq, sentAt, events:[…]}`. */
  validateBatch(value: unknown): BatchValidation {
    if (this.#batch(value)) return { kind: 'valid', batch: value };
    return { kind: 'invalid', message: formatError(this.#batch.errors) };
  }
}

/** `"/target/kind: must be equal to one of the allowed values (link, ad, …)"`: the path first, then why. */
function formatError(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (e === undefined) return '/: invalid';
  const path = e.instancePath === '' ? '/' : e.instancePath;
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return `${join(path, String(params['additionalProperty']))}: is not allowed (unknown property)`;
    case 'required':
      return `${join(path, String(params['missingProperty']))}: is required`;
    case 'enum':
      return `${path}: ${e.message ?? 'invalid'} (${(params['allowedValues'] as unknown[]).map(String).join(', ')})`;
    case 'const':
      return `${path}: must be ${JSON.stringify(params['allowedValue'])}`;
    default:
      return `${path}: ${e.message ?? 'invalid'}`;
  }
}

function join(path: string, key: string): string {
  return path === '/' ? `/${key}` : `${path}/${key}`;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return v === undefined ? 'nothing' : typeof v;
}
