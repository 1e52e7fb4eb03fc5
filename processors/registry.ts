/**
 * Processor types available to `signalhouse.yaml`, keyed by type. Each processor module exports its factory;
 * add it here to make it configurable.
 */
import type { ProcessorFactory, ProcessorRegistry } from './chain.ts';

const factories: ProcessorFactory[] = [];

export const PROCESSOR_FACTORIES: ProcessorRegistry = new Map(factories.map((f) => [f.type, f]));
