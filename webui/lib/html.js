// One place to import Preact + htm from, so pages never spell vendor paths.
// htm builds elements from tagged templates without eval (CSP-safe); every
// ${value} inside a template becomes a text node or a property, never HTML.
import { h, render, Fragment, createContext } from "../vendor/preact.module.js";
import {
  useState, useEffect, useRef, useMemo, useCallback, useContext, useReducer, useId,
} from "../vendor/hooks.module.js";
import htm from "../vendor/htm.module.js";

export const html = htm.bind(h);
export {
  h, render, Fragment, createContext,
  useState, useEffect, useRef, useMemo, useCallback, useContext, useReducer, useId,
};
