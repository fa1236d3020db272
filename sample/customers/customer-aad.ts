/**
 * The additional authenticated data of a customer record: binds its ciphertext to its tenant
 * and id, so a payload moved to another row or tenant fails to decrypt. Tenant and customer ids
 * cannot contain NUL, which keeps the encoding unambiguous.
 */
export function customerAad(tenantId: string, customerId: string): Buffer {
  return Buffer.from(`customer\0v1\0${tenantId}\0${customerId}`, 'utf8');
}
