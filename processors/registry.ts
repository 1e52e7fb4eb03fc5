/**
 * Processor types available to `signalhouse.yaml`, keyed by type. Each processor module exports its factory;
 * add it here to make it configurable.
 */
import type { ProcessorFactory, ProcessorRegistry } from '../core/components.ts';
import { consentFactory } from './consent.ts';
import { dedupeFactory } from './dedupe.ts';
import { encryptFactory } from './encrypt.ts';
import { enrichFactory } from './enrich.ts';
import { redactFactory } from './redact.ts';
import { suppressFactory } from './suppress.ts';
import { validateFactory } from './validate/index.ts';

const factories: ProcessorFactory[] = [
  suppressFactory,
  consentFactory,
  validateFactory,
  enrichFactory,
  redactFactory,
  dedupeFactory,
  encryptFactory,
] as ProcessorFactory[];

export const PROCESSOR_FACTORIES: ProcessorRegistry = new Map(factories.map((f) => [f.type, f]));
