import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { STRATA_CONFIG, type StrataConfig } from '../config/index.js';
import { TokenRepository } from './token.repository.js';

/**
 * With no STRATA_ADMIN_TOKEN and no token yet, generates the admin token on first start, stores
 * only its hash, and prints it once: it cannot be shown again.
 */
@Injectable()
export class TokenBootstrapService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Auth');

  constructor(
    private readonly tokens: TokenRepository,
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.auth.adminToken) return;
    if ((await this.tokens.count()) > 0) return;
    const token = TokenRepository.generate();
    await this.tokens.insert('admin', 'admin', token);
    this.logger.warn(
      'generated the admin API token; it is shown this once and stored only as a hash:',
    );
    process.stdout.write(`\n    STRATA ADMIN TOKEN: ${token}\n\n`);
  }
}
