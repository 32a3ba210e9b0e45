/**
 * A minimal XML writer: elements with ordered attributes and children, escaped so that any text
 * (an AE title, a reason typed by a user, a path) stays data and never becomes markup.
 */
export interface XmlElement {
  name: string;
  attributes: [string, string][];
  children: (XmlElement | string)[];
}

type AttributeValue = string | number | boolean | null | undefined;

/** An element; attributes whose value is null or undefined are left out. */
export function el(
  name: string,
  attributes: Record<string, AttributeValue> = {},
  ...children: (XmlElement | string | null | undefined | false)[]
): XmlElement {
  return {
    name,
    attributes: Object.entries(attributes)
      .filter((a): a is [string, string | number | boolean] => a[1] !== null && a[1] !== undefined)
      .map(([k, v]) => [k, String(v)]),
    children: children.filter(
      (c): c is XmlElement | string => c !== null && c !== undefined && c !== false,
    ),
  };
}

/** Serialises without whitespace between elements: one line, as a syslog MSG is best read. */
export function serialize(node: XmlElement | string): string {
  if (typeof node === 'string') return escapeText(node);
  const attrs = node.attributes.map(([k, v]) => ` ${k}="${escapeAttribute(v)}"`).join('');
  if (node.children.length === 0) return `<${node.name}${attrs}/>`;
  return `<${node.name}${attrs}>${node.children.map(serialize).join('')}</${node.name}>`;
}

/**
 * Characters XML 1.0 cannot carry at all, not even as references (controls, lone surrogates,
 * U+FFFE/U+FFFF): replaced by U+FFFD so that a stray byte never makes the message unparseable.
 */
const NOT_XML = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

function escapeText(s: string): string {
  return s
    .replace(NOT_XML, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\r/g, '&#13;')
    .replace(/\n/g, '&#10;');
}

function escapeAttribute(s: string): string {
  // Tabs and line ends as references: a parser would otherwise normalise them to spaces.
  return escapeText(s).replace(/"/g, '&quot;').replace(/\t/g, '&#9;');
}
