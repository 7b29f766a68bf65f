/** Moved to src/stats/histogram.ts (shared with the load runners); kept here for existing imports. */
export { Histogram, type HistogramSummary, type HistogramJSON } from '../stats/histogram.js';
