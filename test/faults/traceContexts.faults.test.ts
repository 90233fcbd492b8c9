import { describeFaultMatrix } from './faultMatrix.js';

describeFaultMatrix('trace-contexts', ['saveTraceContext', 'loadTraceContext']);
