/** `vault:v<N>:` at the start of a Transit ciphertext (N from 1, at most 10 digits). */
const CIPHERTEXT_VERSION = /^vault:v([1-9]\d{0,9}):/;

/** The longest prefix {@link ciphertextVersion} reads: `vault:v` + 10 digits + `:`. */
export const CIPHERTEXT_VERSION_PREFIX_BYTES = 18;

/** The KEK version a Transit ciphertext names; undefined when it does not start with `vault:v<N>:`. */
export function ciphertextVersion(ciphertext: string): number | undefined {
  const match = CIPHERTEXT_VERSION.exec(ciphertext);
  return match ? Number(match[1]) : undefined;
}
