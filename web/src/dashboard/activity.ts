/**
 * A document's activity on the dashboard: who is on it now (its live sessions) and what was
 * done to it (its audit history, oldest first, 50 at a time). Rendered into the row opened
 * under the document; everything comes from the backend API with the dashboard's key.
 */
import type { BackendApi, HistoryEvent, LiveSession } from "./api";

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children);
  return node;
}

/** A line describing one session: "Alice (alice) · layer review · another node". */
export function describeSession(s: LiveSession): string {
  const who = s.user_name ? `${s.user_name} (${s.user_id})` : s.user_id;
  const layer = s.layer === null ? "" : s.layer === "" ? " · default layer" : ` · layer ${s.layer}`;
  const node = s.node === "other" ? " · on another node" : "";
  return `${who}${layer}${node}`;
}

/** A line describing one event: "record.update ink-1 by alice (seq 3)". */
export function describeEvent(e: HistoryEvent): string {
  const what = e.record_id ? `${e.kind} ${e.record_id}` : e.kind;
  const by = e.actor_name ? `${e.actor_name} (${e.actor})` : e.actor;
  const seq = e.seq !== undefined && e.seq !== null ? ` (seq ${e.seq})` : "";
  return `${what} by ${by}${seq}`;
}

/** The activity panel of `documentId`; fills itself in as the answers arrive. */
export function activityPanel(api: BackendApi, documentId: string, describeError: (e: unknown) => string): HTMLElement {
  const sessions = el("ul", "dash-list", el("li", "dash-muted", "Loading…"));
  const events = el("ol", "dash-list", el("li", "dash-muted", "Loading…"));
  const more = el("button", "dash-button", "More history");
  more.type = "button";
  more.hidden = true;
  const panel = el(
    "div",
    "dash-activity",
    el("section", "", el("h3", "", "On it now"), sessions),
    el("section", "", el("h3", "", "History"), events, more),
  );
  panel.dataset.documentId = documentId;

  api
    .liveSessions(documentId)
    .then(({ sessions: list }) => {
      sessions.replaceChildren(
        ...(list.length === 0 ? [el("li", "dash-muted", "Nobody")] : list.map((s) => el("li", "", describeSession(s)))),
      );
    })
    .catch((e) => sessions.replaceChildren(el("li", "dash-error", describeError(e))));

  let first = true;
  const load = (after?: number) => {
    more.disabled = true;
    api
      .history(documentId, after)
      .then(({ events: page, next }) => {
        if (first) events.replaceChildren();
        first = false;
        if (page.length === 0 && events.childElementCount === 0) events.append(el("li", "dash-muted", "Nothing yet"));
        for (const e of page) {
          const time = el("time", "dash-muted", new Date(e.at).toLocaleString());
          time.dateTime = e.at;
          events.append(el("li", "", time, " ", describeEvent(e)));
        }
        more.hidden = next === undefined;
        more.disabled = false;
        more.onclick = () => load(next);
      })
      .catch((e) => events.replaceChildren(el("li", "dash-error", describeError(e))));
  };
  load();
  return panel;
}
