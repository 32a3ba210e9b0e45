import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/index.js';
import { TokenRepository } from './token.repository.js';
import { TokenService } from './token.service.js';

/** API tokens: the repository the guard reads, and the audited operations (server and CLI). */
@Module({
  imports: [AuditModule],
  providers: [TokenRepository, TokenService],
  exports: [TokenRepository, TokenService],
})
export class TokensModule {}
