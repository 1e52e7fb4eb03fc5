/** The package's version, the instrumentation scope version of its loggers and tracers (package.json's, held equal by a test). */
export const SDK_VERSION = '0.1.0';
