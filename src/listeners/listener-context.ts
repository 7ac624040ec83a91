// The context a listener gets when it is built outside a broker (tests, embedding).

import { pino } from 'pino';
import { defaultConfig } from '../config/schema.js';
import type { ListenerContext } from './listener.js';

/** Silent logs and the configuration's default limits. */
export function defaultListenerContext(): ListenerContext {
  return { logger: pino({ level: 'silent' }), limits: defaultConfig().limits };
}
