/** Device classes a session is sliced by (issue "Segments and slices"); `unknown`: no User-Agent (server-side producers, NATS). */
export const DEVICE_CLASSES = ['desktop', 'mobile', 'tablet', 'bot', 'unknown'] as const;
export type DeviceClass = (typeof DEVICE_CLASSES)[number];

// Tablets first: iPads, Android without "Mobile", Kindle/Silk, PlayBook; then phones.
const TABLET = /ipad|tablet|playbook|silk|kindle|(android(?!.*mobile))/i;
const MOBILE = /mobi|iphone|ipod|android|windows phone|blackberry|opera mini|iemobile/i;

/**
 * The device class of a User-Agent, the way analytics tools bucket it (a short list of tokens, not a
 * full UA database): bots apart (the enricher's bot rule decides), tablets before phones, the rest
 * desktop. Computed once per batch.
 */
export function deviceClass(userAgent: string | undefined, bot: boolean): DeviceClass {
  if (bot) return 'bot';
  if (userAgent === undefined || userAgent === '') return 'unknown';
  if (TABLET.test(userAgent)) return 'tablet';
  if (MOBILE.test(userAgent)) return 'mobile';
  return 'desktop';
}
