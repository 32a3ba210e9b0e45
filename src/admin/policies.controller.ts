import { Controller, HttpCode, HttpException, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiResponse, ApiTags } from '@nestjs/swagger';
import { type AuthenticatedRequest } from './auth.guard.js';
import { PolicyReloadService, type ReloadOutcome } from './policy-reload.service.js';
import { Roles } from './roles.decorator.js';

/** Policies kept as files (policies/): reloading them without a restart. */
@ApiTags('lifecycle')
@ApiBearerAuth()
@Controller('api/policies')
export class PoliciesController {
  constructor(private readonly reloader: PolicyReloadService) {}

  /**
   * Reads the policy files again (lifecycle rules and settings, duplicate policies, vendor
   * profiles), validates them whole and, if valid, runs with them from now on, on this node.
   * An invalid set is refused (422, every problem listed) and the set in force stays. Audited.
   */
  @Roles('archivist')
  @Post('reload')
  @HttpCode(200)
  @ApiResponse({ status: 200, description: 'the new set is in force' })
  @ApiResponse({ status: 422, description: 'invalid: refused, the set in force stays' })
  async reload(@Req() req: AuthenticatedRequest): Promise<ReloadOutcome> {
    const outcome = await this.reloader.reload({
      actor: req.strataUser?.name ?? 'unknown',
      actorHost: req.ip ?? null,
      role: req.strataUser?.role ?? null,
    });
    if (!outcome.reloaded) {
      throw new HttpException(
        {
          message: `the policy files are invalid (${outcome.errors.length} problem(s)); the policies in force stay`,
          errors: outcome.errors,
        },
        422,
      );
    }
    return outcome;
  }
}
