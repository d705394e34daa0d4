import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReplayArgs, storefrontUrl } from '../../../src/replay/replay-cli';
import { parseSimulateArgs } from '../../../src/replay/simulate-cli';
import { startTestApp } from '../../helpers/collect-client';
import { freePort } from '../../helpers/nats-server';
import { until } from '../../helpers/until';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const cli = join(root, 'dist', 'cli.js');

beforeAll(() => {
  if (!existsSync(cli)) execFileSync(process.execPath, [join(root, 'src', 'scripts', 'build.mjs')], { cwd: root });
});

describe('first minutes: the URLs the CLIs use and print', () => {
  const saved = process.env['PORT'];
  afterAll(() => {
    if (saved === undefined) delete process.env['PORT'];
    else process.env['PORT'] = saved;
  });

  it('cli - simulate and replay send to the port serve reads (PORT), and --url wins', () => {
    process.env['PORT'] = '18123';
    const sim = parseSimulateArgs([]);
    expect(sim.kind === 'ok' && sim.options.url).toBe('ws://127.0.0.1:18123/v1/collect?site=demo');
    const rep = parseReplayArgs(['x.dat', '--format', 'retail', '--site', 'shop']);
    expect(rep.kind === 'ok' && rep.options.url).toBe('ws://127.0.0.1:18123/v1/collect?site=shop');
    const own = parseSimulateArgs(['--url', 'ws://127.0.0.1:9/v1/collect?site=demo']);
    expect(own.kind === 'ok' && own.options.url).toBe('ws://127.0.0.1:9/v1/collect?site=demo');
    expect(storefrontUrl('ws://127.0.0.1:9/v1/collect?site=demo')).toBe('http://127.0.0.1:9/demo');
    expect(storefrontUrl('wss://shop.example/v1/collect?site=demo')).toBe('https://shop.example/demo');
  });

  it('cli - GET / on the public port redirects to the demo storefront', async () => {
    const t = await startTestApp();
    try {
      const res = await fetch(`${t.base}/`, { redirect: 'manual' });
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toBe('/demo');
    } finally {
      await t.stop();
    }
  });

  it('cli - serve prints the URLs to open, with the ports it bound', async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const proc = spawn(process.execPath, [cli, 'serve'], {
      cwd: root,
      env: { ...process.env, PORT: String(port), ADMIN_PORT: String(adminPort), HOST: '127.0.0.1', LOG_LEVEL: 'warn', NATS_URL: '', DATA_DIR: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await until('the banner', () => stderr.includes('metrics'), 20_000);
      expect(stderr).toContain(`demo storefront  http://127.0.0.1:${port}/demo`);
      expect(stderr).toContain(`dashboard        http://127.0.0.1:${adminPort}/`);
      expect(stderr).toContain('embedded, no state kept');
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
  });
});

describe('replay progress', () => {
  it('duration - readable seconds, minutes and hours for the ETA and the expected run time', async () => {
    const { duration } = await import('../../../src/replay/replay-cli');
    expect([duration(42.4), duration(185), duration(3_725)]).toEqual(['42 s', '3 min 05 s', '1 h 02 min']);
  });
});
