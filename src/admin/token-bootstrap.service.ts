import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { STRATA_CONFIG, type StrataConfig } from '../config/index.js';
import { TokenRepository } from './token.repository.js';
import { TokenError, TokenService } from './token.service.js';

/**
 * With no STRATA_ADMIN_TOKEN and no token yet, generates the admin token on first start (audited
 * as 'token.created' by 'system'), stores only its hash, and prints it once: it cannot be shown
 * again.
 */
@Injectable()
export class TokenBootstrapService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Auth');

  constructor(
    private readonly tokens: TokenRepository,
    private readonly service: TokenService,
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.auth.adminToken) return;
    if ((await this.tokens.count()) > 0) return;
    let secret: string;
    try {
      ({ secret } = await this.service.create(
        { role: 'admin', name: 'admin' },
        { actor: 'system', actorHost: null, role: null },
      ));
    } catch (error) {
      // Another node starting on the same database made it a moment ago, and printed it there.
      if (error instanceof TokenError && error.status === 409) return;
      throw error;
    }
    this.logger.warn(
      'generated the admin API token; it is shown this once and stored only as a hash:',
    );
    process.stdout.write(`\n    STRATA ADMIN TOKEN: ${secret}\n\n`);
  }
}
