/** Validated options with defaults applied (internal, never exported from the package). */
export const KMS_RESOLVED_OPTIONS = 'KMS:RESOLVED_OPTIONS';
