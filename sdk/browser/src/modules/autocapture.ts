/**
 * Autocapture: clicks on interactive elements (`ui.click`) and form submits (`ui.form_submit`), described by tag,
 * id, classes, visible text (≤ 100 characters), link target and a short CSS path. Field values are never read.
 * `data-sh-event="name"` on an element sends that event name instead; `data-sh-ignore` on an element or an
 * ancestor turns capture off inside it.
 */
import type { ModuleHost, Properties } from '../types.ts';

const CLICKABLE =
  'a,button,summary,label,[role=button],[role=link],[data-sh-event],input[type=button],input[type=submit],input[type=reset],input[type=checkbox],input[type=radio]';

/** tag#id.class, up to 4 levels from the element up. */
function path(el: Element | null): string {
  const parts: string[] = [];
  for (let i = 0; el && el !== document.body && i < 4; i++, el = el.parentElement) {
    parts.unshift(
      el.tagName.toLowerCase() +
        (el.id ? `#${el.id}` : '') +
        [...el.classList]
          .slice(0, 2)
          .map((c) => `.${c}`)
          .join(''),
    );
  }
  return parts.join(' > ');
}

function describe(el: Element, prefix: string): Properties {
  const p: Properties = { [`${prefix}.tag`]: el.tagName.toLowerCase(), [`${prefix}.selector`]: path(el) };
  if (el.id) p[`${prefix}.id`] = el.id;
  if (el.classList.length) p[`${prefix}.classes`] = [...el.classList].slice(0, 10).join(' ');
  return p;
}

export function install(host: ModuleHost): void {
  const ignored = (el: Element) => el.closest('[data-sh-ignore]') !== null;
  addEventListener(
    'click',
    (ev) => {
      const el = (ev.target as Element | null)?.closest?.(CLICKABLE);
      if (!el || ignored(el)) return;
      const p = describe(el, 'ui.element');
      const text = (el.textContent ?? '').replace(/\s+/g, ' ').trim().slice(0, 100);
      if (text) p['ui.element.text'] = text;
      if (el instanceof HTMLAnchorElement && el.href) p['ui.element.href'] = el.href;
      host.track(el.getAttribute('data-sh-event') || 'ui.click', p);
    },
    true,
  );
  addEventListener(
    'submit',
    (ev) => {
      const form = ev.target as HTMLFormElement;
      if (!(form instanceof HTMLFormElement) || ignored(form)) return;
      const p = describe(form, 'ui.form');
      const name = form.getAttribute('name');
      if (name) p['ui.form.name'] = name;
      p['ui.form.action'] = form.action;
      p['ui.form.method'] = form.method;
      host.track('ui.form_submit', p);
    },
    true,
  );
}
