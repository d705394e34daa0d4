/**
 * The processors' public entry: each processor folder exports its processor and its output type
 * through here (not its helpers). The app builds one instance of each per site.
 */
export type { Processor, EventOutcome, ProcessorContext } from './processor';
export { NavigationProcessor } from './navigation/navigation-processor';
export type { NavigationWindow, NavigationTransition, NavigationPageCount, NavigationPath, ClickThrough, NavigationProcessorOptions } from './navigation/navigation-processor';
