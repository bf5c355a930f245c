// cdktf's jest matchers (toHaveResourceWithProperties, …) for the stack tests; their types come
// from `import 'cdktf/lib/testing/adapters/jest'` in the test files that use them.
import { Testing } from 'cdktf';

Testing.setupJest();
