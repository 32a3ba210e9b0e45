import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'strata:public';
/** Marks a route that needs no bearer token (only /health). */
export const Public = () => SetMetadata(IS_PUBLIC, true);
