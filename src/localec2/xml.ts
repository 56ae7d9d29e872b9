/**
 * EC2's XML: `<ActionResponse xmlns=...><requestId/>...</ActionResponse>`, lists as `<name><item>..</item></name>`
 * (volumeSet/item, attachmentSet/item, tagSet/item, ...), times in ISO 8601, and the error document
 * `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`.
 */
export const EC2_NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';

export type XmlValue = string | number | boolean | Date | undefined | null | XmlObject | XmlValue[];
export interface XmlObject {
  [element: string]: XmlValue;
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[char]};`);
}

function renderValue(name: string, value: XmlValue): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) {
    const items = value.map((item) => renderValue('item', item)).join('');
    return items ? `<${name}>${items}</${name}>` : `<${name}/>`;
  }
  if (value instanceof Date) return `<${name}>${value.toISOString()}</${name}>`;
  if (typeof value === 'object') return `<${name}>${renderObject(value)}</${name}>`;
  const text = escapeXml(String(value));
  return text ? `<${name}>${text}</${name}>` : `<${name}/>`;
}

function renderObject(object: XmlObject): string {
  return Object.entries(object)
    .map(([name, value]) => renderValue(name, value))
    .join('');
}

export function renderResponse(action: string, requestId: string, body: XmlObject): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${EC2_NAMESPACE}">` +
    `<requestId>${escapeXml(requestId)}</requestId>${renderObject(body)}</${action}Response>`
  );
}

export function renderError(code: string, message: string, requestId: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${escapeXml(code)}</Code>` +
    `<Message>${escapeXml(message)}</Message></Error></Errors><RequestID>${escapeXml(requestId)}</RequestID></Response>`
  );
}
