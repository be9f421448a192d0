// The unit project registers these matchers at runtime (setupFiles in vitest.config.ts); this brings their types.
import "aws-sdk-client-mock-vitest/extend";
