import { DIMENSIONS, type Dimension, type SliceQuery } from '../../processors/usage/session-dimensions';

/**
 * `by=channel[,device]` and `where=device:mobile,channel:search,channel:social` (OR within a
 * dimension, AND across); a value may hold colons (split at the first). Neither: no slicing.
 */
export function parseSliceQuery(q: Record<string, unknown>): { kind: 'ok'; query: SliceQuery | undefined } | { kind: 'error'; message: string } {
  const by = q['by'];
  const where = q['where'];
  if (by === undefined && where === undefined) return { kind: 'ok', query: undefined };
  const problems: string[] = [];
  const dims = typeof by === 'string' && by !== '' ? by.split(',') : [];
  if (by !== undefined && (typeof by !== 'string' || dims.length < 1 || dims.length > 2)) problems.push('by must name one or two dimensions, comma-separated');
  for (const d of dims) if (!(DIMENSIONS as readonly string[]).includes(d)) problems.push(`by: unknown dimension ${JSON.stringify(d)} (one of ${DIMENSIONS.join(', ')})`);
  if (new Set(dims).size !== dims.length) problems.push('by: a dimension named twice');
  const filter: Partial<Record<Dimension, string[]>> = {};
  if (where !== undefined) {
    if (typeof where !== 'string' || where === '') problems.push('where must be dimension:value pairs, comma-separated');
    else {
      for (const pair of where.split(',')) {
        const i = pair.indexOf(':');
        const d = i < 0 ? pair : pair.slice(0, i);
        if (i < 1 || !(DIMENSIONS as readonly string[]).includes(d)) {
          problems.push(`where: ${JSON.stringify(pair)} is not dimension:value with a dimension of ${DIMENSIONS.join(', ')}`);
          continue;
        }
        (filter[d as Dimension] ??= []).push(pair.slice(i + 1));
      }
    }
  }
  if (problems.length > 0) return { kind: 'error', message: problems.join('; ') };
  return { kind: 'ok', query: { by: dims as Dimension[], where: filter } };
}

/** The OpenAPI description of `by` and `where` on a sliced stats route. */
export const SLICE_QUERYSTRING_PROPERTIES = {
  by: { type: 'string', description: `Slice by one or two dimensions, comma-separated: ${DIMENSIONS.join(', ')}` },
  where: { type: 'string', description: 'Keep only these values: dimension:value pairs, comma-separated (OR within a dimension, AND across)' },
} as const;
