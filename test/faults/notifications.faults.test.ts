import { describeFaultMatrix } from './faultMatrix.js';

describeFaultMatrix('notification-outbox', ['enqueueNotifications', 'claimNotifications', 'recordNotificationAttempt', 'listNotifications']);
