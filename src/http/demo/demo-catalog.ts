/**
 * The demo storefront's catalog: few enough to read at a glance, chosen so that cross-sell is obvious
 * (video games ⇒ sci-fi books, consoles ⇒ controllers and games).
 */
export interface DemoCategory {
  readonly id: string;
  readonly name: string;
}

export interface DemoProduct {
  readonly id: string;
  readonly name: string;
  readonly category: string;
  /** Price in euros. */
  readonly price: number;
  readonly blurb: string;
}

export const DEMO_CATEGORIES: readonly DemoCategory[] = [
  { id: 'video-games', name: 'Video games' },
  { id: 'sci-fi-books', name: 'Sci-fi books' },
  { id: 'consoles', name: 'Consoles' },
  { id: 'board-games', name: 'Board games' },
];

export const DEMO_PRODUCTS: readonly DemoProduct[] = [
  { id: 'starfield-odyssey', name: 'Starfield Odyssey', category: 'video-games', price: 59.99, blurb: 'Chart a thousand systems in an open-world space RPG.' },
  { id: 'mech-arena', name: 'Mech Arena Tactics', category: 'video-games', price: 49.99, blurb: 'Turn-based battles between giant robots.' },
  { id: 'neon-drift', name: 'Neon Drift', category: 'video-games', price: 39.99, blurb: 'Arcade racing through a cyberpunk city at night.' },
  { id: 'dungeon-forge', name: 'Dungeon Forge', category: 'video-games', price: 29.99, blurb: 'Build the dungeon, then survive it.' },
  { id: 'dune', name: 'Dune', category: 'sci-fi-books', price: 14.99, blurb: 'Frank Herbert: spice, sandworms and empire.' },
  { id: 'foundation', name: 'Foundation', category: 'sci-fi-books', price: 12.99, blurb: 'Isaac Asimov: psychohistory against the dark age.' },
  { id: 'neuromancer', name: 'Neuromancer', category: 'sci-fi-books', price: 11.99, blurb: 'William Gibson: the novel that named cyberspace.' },
  { id: 'hyperion', name: 'Hyperion', category: 'sci-fi-books', price: 13.99, blurb: 'Dan Simmons: seven pilgrims, one Shrike.' },
  { id: 'nova-console', name: 'Nova Console', category: 'consoles', price: 449, blurb: 'The 4K console with a 2 TB drive.' },
  { id: 'nova-controller', name: 'Nova Controller', category: 'consoles', price: 69, blurb: 'A second controller for couch co-op.' },
  { id: 'pocket-handheld', name: 'Pocket Handheld', category: 'consoles', price: 199, blurb: 'Your library in your pocket.' },
  { id: 'galaxy-trucker', name: 'Galaxy Trucker', category: 'board-games', price: 44.5, blurb: 'Build a spaceship from sewer pipes, then fly it.' },
  { id: 'twilight-imperium', name: 'Twilight Imperium', category: 'board-games', price: 149, blurb: 'A galactic epic for a whole weekend.' },
];

export function demoProduct(id: string): DemoProduct | undefined {
  return DEMO_PRODUCTS.find((p) => p.id === id);
}

export function demoCategory(id: string): DemoCategory | undefined {
  return DEMO_CATEGORIES.find((c) => c.id === id);
}
