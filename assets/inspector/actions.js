// statecrew inspector: operator actions. Each one is a POST of JSON to /api/actions carrying this
// page's CSRF token (from its <meta>); the server writes the same store rows as the CLI's
// `stop --worker`, `pause`, `resume`, `cancel` and `send`, and a runtime in any process acts on
// them. A stop is followed at /api/commands/:id until the runtime recorded its outcome.

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? '';
const csrf = meta('statecrew-csrf');

/** Whether this page may act (not `statecrew inspect --read-only`). */
export const actionsOn = meta('statecrew-mode') === 'actions';

/** Commands queued from this page and not yet done: id → its log entry. */
const following = new Map();

function logEntry(label) {
  const item = document.createElement('li');
  item.className = 'pending';
  const what = Object.assign(document.createElement('b'), { textContent: label });
  const outcome = Object.assign(document.createElement('span'), { className: 'outcome', textContent: 'sending…' });
  item.append(what, ' ', outcome);
  document.querySelector('#action-log').prepend(item);
  return {
    item,
    show(state, text) {
      item.className = state;
      item.dataset.state = state;
      outcome.textContent = text;
    },
  };
}

/**
 * Posts one action and shows its outcome in the page's action log.
 * @param {object} action the body: `{ action: 'stop-worker', workerId }`, `{ action: 'pause' }`, …
 * @param {string} label what the log line says was asked.
 */
export async function act(action, label) {
  const entry = logEntry(label);
  entry.item.dataset.action = action.action;
  try {
    const response = await fetch('/api/actions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Statecrew-CSRF': csrf },
      body: JSON.stringify(action),
      cache: 'no-store',
    });
    const result = await response.json();
    if (!response.ok) return entry.show('refused', result.message ?? result.error ?? `HTTP ${response.status}`);
    if (action.action === 'stop-worker' && typeof result.id === 'number') {
      entry.item.dataset.commandId = String(result.id);
      following.set(result.id, entry);
      entry.show('queued', `${result.message}; waiting for the runtime…`);
      return followCommands();
    }
    entry.show(result.live.length === 0 ? 'recorded' : 'done', result.message);
  } catch (error) {
    entry.show('refused', String(error.message ?? error));
  }
}

/** Reads the outcome of every command still followed (called on each change the store pushes). */
export async function followCommands() {
  for (const [id, entry] of following) {
    const response = await fetch(`/api/commands/${id}`, { cache: 'no-store' });
    if (!response.ok) continue;
    const command = await response.json();
    if (command.state !== 'done') {
      entry.show(command.state, command.state === 'taken' ? `taken by ${command.takenBy}; stopping…` : 'queued; waiting for the runtime…');
      continue;
    }
    following.delete(id);
    entry.show(command.outcome === 'done' ? 'done' : 'refused', command.message ?? command.outcome);
  }
}

function button(label, title, onClick) {
  const element = Object.assign(document.createElement('button'), { type: 'button', textContent: label, title });
  element.addEventListener('click', onClick);
  return element;
}

/** A text box and a button that sends its text to `target` (a unit or worker id). */
function messageForm(target) {
  const form = document.createElement('form');
  form.className = 'send';
  const text = Object.assign(document.createElement('input'), { type: 'text', name: 'text', placeholder: `message to ${target}'s agent`, required: true });
  text.setAttribute('aria-label', `message to ${target}`);
  form.append(text, Object.assign(document.createElement('button'), { type: 'submit', textContent: 'Send', title: 'the input of its next turn (statecrew send)' }));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = text.value.trim();
    if (value === '') return;
    text.value = '';
    void act({ action: 'send-message', target, text: value }, `send to ${target}`);
  });
  return form;
}

/**
 * The buttons for the selected actor: a live worker can be stopped and messaged; a dispatch's
 * unit can be canceled and messaged.
 */
export function renderActorActions(detail) {
  const box = document.querySelector('#actor-actions');
  const controls = [];
  if (actionsOn && detail !== null) {
    const { actor, current } = detail;
    if (actor.kind === 'worker' && actor.status === 'active') {
      controls.push(button('Stop worker', 'kill its turn, verify it is gone, record it (statecrew stop --worker)', () => void act({ action: 'stop-worker', workerId: actor.id }, `stop ${actor.id}`)));
      controls.push(messageForm(actor.id));
    }
    const unitId = actor.kind === 'dispatch' ? current.context?.unitId : undefined;
    if (typeof unitId === 'string') {
      controls.push(button(`Cancel ${unitId}`, 'cancel the unit for good and kill its running turn (statecrew cancel)', () => void act({ action: 'cancel-unit', unitId }, `cancel ${unitId}`)));
      controls.push(messageForm(unitId));
    }
  }
  // Keep a half-typed message: only rebuild when the actor changed.
  const key = controls.length === 0 ? '' : `${detail.actor.id}:${detail.actor.status}`;
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.replaceChildren(...controls);
  box.hidden = controls.length === 0;
}

/** Shows the fleet-wide actions, or the read-only badge. */
export function setupActions() {
  document.querySelector('#fleet-actions').hidden = !actionsOn;
  document.querySelector('#read-only').hidden = actionsOn;
  if (!actionsOn) return;
  document.querySelector('#action-pause').addEventListener('click', () => void act({ action: 'pause' }, 'pause'));
  document.querySelector('#action-resume').addEventListener('click', () => void act({ action: 'resume' }, 'resume'));
}
