// The catalogue (categories and services), loaded once and cached, and the
// plain name of a tag ("games" -> "Games", "service:tiktok" -> "TikTok").
import { get } from "./api.js";
import { lang } from "./i18n.js";

let catalog = null;
let pending = null;

export function loadCatalog() {
  if (catalog) return Promise.resolve(catalog);
  if (!pending) {
    pending = get("/api/catalog").then((c) => (catalog = c)).finally(() => { pending = null; });
  }
  return pending;
}

export function cachedCatalog() {
  return catalog;
}

export function tagLabel(tag) {
  if (!tag) return "";
  if (!catalog) return tag.startsWith("service:") ? tag.slice(8) : tag;
  if (tag.startsWith("service:")) {
    const service = catalog.services.find((s) => s.tag === tag);
    return service ? service.name : tag.slice(8);
  }
  const category = catalog.categories.find((c) => c.id === tag);
  if (!category) return tag;
  return category.title[lang()] || category.title.en || tag;
}
