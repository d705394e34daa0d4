/**
 * A piece of a snapshot stored as its own JSON text beside the rest, so a restore can keep it unparsed
 * until it is needed (issue "Durable by default": restart to ready ≤ 5 s). A window's closed panes are
 * most of a partition's state — 62 % of its JSON at 1 M kosarak events — and most of them are never
 * touched again before they expire, so parsing and rebuilding them all at boot (JSON.parse, then the
 * Space-Saving summaries key by key, and the garbage of both) was most of the restart.
 *
 * In a state file (`encodeParts`) each part's text follows the envelope's own JSON as raw bytes — not a
 * JSON string inside it, whose escapes would make the parser walk every byte again — and the envelope
 * names where each part goes. Anywhere else (a query's partial sent to another instance, a test
 * comparing snapshots) a part serialises as its value, so a snapshot reads the same as without parts.
 */
const MAGIC = Buffer.from('CMP1');

/** While `encodeParts` stringifies: each part's index in the file. */
let encoding: Map<JsonPart, number> | undefined;

export class JsonPart<T = unknown> {
  readonly #text: Buffer | undefined;
  readonly #value: T | undefined;

  private constructor(text: Buffer | undefined, value: T | undefined) {
    this.#text = text;
    this.#value = value;
  }

  /** A part holding a value (taken now, written as its own text when a state file is encoded). */
  static of<T>(value: T): JsonPart<T> {
    return new JsonPart<T>(undefined, value);
  }

  /** A part read back from a state file: its text, parsed only when `value()` is asked. */
  static fromText<T>(text: Buffer): JsonPart<T> {
    return new JsonPart<T>(text, undefined);
  }

  /** Parsed afresh from the text each time it was read back: the caller keeps what it builds. */
  value(): T {
    return this.#text === undefined ? this.#value! : (JSON.parse(this.#text.toString('utf8')) as T);
  }

  /** The JSON text, as a state file stores it. */
  text(): Buffer {
    return this.#text ?? Buffer.from(JSON.stringify(this.#value));
  }

  toJSON(): unknown {
    const i = encoding?.get(this);
    return i === undefined ? this.value() : { $part: i };
  }
}

type Path = ReadonlyArray<string | number>;

/**
 * `JSON.stringify(root)` with every `JsonPart` in it written after the JSON as its own bytes: the file
 * is MAGIC, the head's length (u32 LE), the head (the JSON, each part replaced by `{"$part": i}`, and
 * `parts`: their paths and lengths), then the parts. Without parts, plain JSON.
 */
export function encodeParts(root: object): Buffer {
  const found: Array<{ path: Path; part: JsonPart }> = [];
  collect(root, [], found);
  if (found.length === 0) return Buffer.from(JSON.stringify(root));
  const texts = found.map((f) => f.part.text());
  encoding = new Map(found.map((f, i) => [f.part, i]));
  let head: Buffer;
  try {
    head = Buffer.from(JSON.stringify({ ...root, parts: { paths: found.map((f) => f.path), lengths: texts.map((t) => t.length) } }));
  } finally {
    encoding = undefined;
  }
  const len = Buffer.alloc(4);
  len.writeUInt32LE(head.length);
  return Buffer.concat([MAGIC, len, head, ...texts]);
}

/** Reads `encodeParts` output back: the value with each part in place as a `JsonPart` (still unparsed). Throws on malformed input. */
export function decodeParts(buf: Buffer): unknown {
  if (buf.length < 8 || !buf.subarray(0, 4).equals(MAGIC)) return JSON.parse(buf.toString('utf8'));
  const headEnd = 8 + buf.readUInt32LE(4);
  if (headEnd > buf.length) throw new Error('truncated head');
  const root = JSON.parse(buf.toString('utf8', 8, headEnd)) as { parts?: { paths?: unknown; lengths?: unknown } };
  const paths = root.parts?.paths;
  const lengths = root.parts?.lengths;
  if (!Array.isArray(paths) || !Array.isArray(lengths) || paths.length !== lengths.length) throw new Error('malformed parts table');
  delete root.parts;
  let at = headEnd;
  for (let i = 0; i < paths.length; i++) {
    const n = lengths[i] as number;
    if (!Number.isInteger(n) || n < 0 || at + n > buf.length) throw new Error(`part ${i} out of bounds`);
    // A copy, so the inflated file can be collected while parts wait to be parsed.
    place(root, paths[i] as Path, i, JsonPart.fromText(Buffer.from(buf.subarray(at, at + n))));
    at += n;
  }
  if (at !== buf.length) throw new Error('trailing bytes after the parts');
  return root;
}

/** Every JsonPart under `v` with its path, in JSON.stringify's order (plain objects and arrays only). */
function collect(v: unknown, path: Array<string | number>, out: Array<{ path: Path; part: JsonPart }>): void {
  if (v instanceof JsonPart) {
    out.push({ path: [...path], part: v });
    return;
  }
  if (v === null || typeof v !== 'object') return;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (x === null || typeof x !== 'object') continue;
      path.push(i);
      collect(x, path, out);
      path.pop();
    }
    return;
  }
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return; // serialises as something else: holds no part
  for (const k of Object.keys(v)) {
    const x = (v as Record<string, unknown>)[k];
    if (x === null || typeof x !== 'object') continue;
    path.push(k);
    collect(x, path, out);
    path.pop();
  }
}

function place(root: unknown, path: Path, i: number, part: JsonPart): void {
  let holder = root as Record<string | number, unknown> | undefined;
  for (let d = 0; d < path.length - 1; d++) holder = holder?.[path[d]!] as Record<string | number, unknown> | undefined;
  const key = path[path.length - 1];
  const ref = key === undefined ? undefined : (holder?.[key] as { $part?: unknown } | undefined);
  if (key === undefined || ref?.$part !== i) throw new Error(`part ${i} has no place at ${path.join('.')}`);
  holder![key] = part;
}
