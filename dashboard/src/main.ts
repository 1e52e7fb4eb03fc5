/** The dashboard's entry: styles, then the app in #app. */
import { html, render } from 'htm/preact';
import './style.css';
import { App } from './app.ts';

render(html`<${App} />`, document.getElementById('app')!);
