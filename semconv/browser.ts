/**
 * Events the web tracker (`sdk/browser`) and its modules send, and their attributes: the OpenTelemetry names
 * where the conventions have them (`browser.web_vital` and `browser.web_vital.*`, `exception.*`), Signalhouse
 * names otherwise (`page`, the autocaptured `ui.*`). The tracker cannot import server code, so it writes the
 * same strings; its browser tests read the stored events back with these.
 */

/** A pageview (also the Segment API's name for it). */
export const EVENT_PAGE = 'page';
export const EVENT_IDENTIFY = 'identify';
export const EVENT_ALIAS = 'alias';

/** OpenTelemetry's web vital event (LCP, CLS, INP, FCP, TTFB), its attributes as in the conventions' registry. */
export const EVENT_WEB_VITAL = 'browser.web_vital';
export const ATTR_WEB_VITAL_NAME = 'browser.web_vital.name';
export const ATTR_WEB_VITAL_VALUE = 'browser.web_vital.value';
export const ATTR_WEB_VITAL_DELTA = 'browser.web_vital.delta';
export const ATTR_WEB_VITAL_ID = 'browser.web_vital.id';
export const ATTR_WEB_VITAL_RATING = 'browser.web_vital.rating';
export const ATTR_WEB_VITAL_NAVIGATION_TYPE = 'browser.web_vital.navigation_type';

/** An uncaught error or unhandled rejection, with OpenTelemetry's exception attributes. */
export const EVENT_EXCEPTION = 'exception';
export const ATTR_EXCEPTION_TYPE = 'exception.type';
export const ATTR_EXCEPTION_MESSAGE = 'exception.message';
export const ATTR_EXCEPTION_STACKTRACE = 'exception.stacktrace';

/** Autocapture: a click on an interactive element, a form submit. */
export const EVENT_UI_CLICK = 'ui.click';
export const EVENT_UI_FORM_SUBMIT = 'ui.form_submit';
export const ATTR_UI_ELEMENT_TAG = 'ui.element.tag';
export const ATTR_UI_ELEMENT_ID = 'ui.element.id';
export const ATTR_UI_ELEMENT_CLASSES = 'ui.element.classes';
export const ATTR_UI_ELEMENT_TEXT = 'ui.element.text';
export const ATTR_UI_ELEMENT_HREF = 'ui.element.href';
export const ATTR_UI_ELEMENT_SELECTOR = 'ui.element.selector';
export const ATTR_UI_FORM_TAG = 'ui.form.tag';
export const ATTR_UI_FORM_ID = 'ui.form.id';
export const ATTR_UI_FORM_NAME = 'ui.form.name';
export const ATTR_UI_FORM_ACTION = 'ui.form.action';
export const ATTR_UI_FORM_METHOD = 'ui.form.method';
export const ATTR_UI_FORM_SELECTOR = 'ui.form.selector';
