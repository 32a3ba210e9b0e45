export { RetrievalModule } from './retrieval.module.js';
export { QidoService, type QidoAnswer } from './qido.service.js';
