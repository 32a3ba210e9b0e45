import { describe, expect, it, vi } from 'vitest';
import { type StrataConfig } from '../config/index.js';
import { TokenBootstrapService } from './token-bootstrap.service.js';
import { type TokenRepository } from './token.repository.js';
import { TokenError, type TokenService } from './token.service.js';

function setup(adminToken: string | null, existing: number, create: TokenService['create']) {
  const tokens = { count: async () => existing } as unknown as TokenRepository;
  const service = { create: vi.fn(create) } as unknown as TokenService;
  const config = { auth: { adminToken } } as StrataConfig;
  return { service, boot: new TokenBootstrapService(tokens, service, config) };
}

describe('the first start’s admin token', () => {
  it('is created through the audited token service, and printed once', async () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const { service, boot } = setup(null, 0, async () => ({
        token: {} as never,
        secret: 'strata_SECRET',
      }));
      await boot.onApplicationBootstrap();
      expect(service.create).toHaveBeenCalledWith(
        { role: 'admin', name: 'admin' },
        { actor: 'system', actorHost: null, role: null },
      );
      expect(write.mock.calls.map((c) => String(c[0])).join('')).toContain('strata_SECRET');
    } finally {
      write.mockRestore();
    }
  });

  it('is not made with STRATA_ADMIN_TOKEN set, or once any token exists', async () => {
    for (const [admin, n] of [
      ['configured-admin-token-123456', 0],
      [null, 2],
    ] as const) {
      const { service, boot } = setup(admin, n, async () => {
        throw new Error('not expected');
      });
      await boot.onApplicationBootstrap();
      expect(service.create).not.toHaveBeenCalled();
    }
  });

  it('leaves it to another node that made it first', async () => {
    const { boot } = setup(null, 0, async () => {
      throw new TokenError(409, "a live token is named 'admin' already");
    });
    await expect(boot.onApplicationBootstrap()).resolves.toBeUndefined();
  });
});
