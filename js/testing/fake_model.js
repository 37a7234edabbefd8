// A fake anywidget model for tests (vitest in Node, and the browser harness page): traits,
// change events, messages and save_changes, recording what the view does with them.

/**
 * @param {Record<string, any>} initial  the traits' starting values
 * @returns the model, plus `sent`, `setCalls`, `saves`, `update(changes)` (what the kernel does:
 *   change traits and tell the views), `emit(event, ...args)` and `listenerCount()`
 */
export function makeModel(initial = {}) {
  const state = { ...initial };
  const listeners = new Map();
  const model = {
    sent: [],
    setCalls: [],
    saves: 0,
    get: (name) => state[name],
    set(name, value) {
      model.setCalls.push([name, value]);
      state[name] = value;
      model.emit(`change:${name}`);
    },
    on(event, fn) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(fn);
    },
    off(event, fn) {
      listeners.get(event)?.delete(fn);
    },
    send(msg) {
      model.sent.push(msg);
    },
    save_changes() {
      model.saves += 1;
    },
    update(changes) {
      for (const [name, value] of Object.entries(changes)) {
        state[name] = value;
        model.emit(`change:${name}`);
      }
    },
    emit(event, ...args) {
      for (const fn of [...(listeners.get(event) || [])]) fn(...args);
    },
    listenerCount: () => [...listeners.values()].reduce((n, s) => n + s.size, 0),
  };
  return model;
}
