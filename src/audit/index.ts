export {
  type AuditAppendPayload,
  type AuditEvent,
  type AuditRow,
  canonicalEncoding,
} from './audit-event.js';
export { AuditModule } from './audit.module.js';
export { AuditService } from './audit.service.js';
