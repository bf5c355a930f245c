// cdktf's jest matchers (toHaveResourceWithProperties, …) for the stack tests. This is what
// `Testing.setupJest()` calls, imported from the adapter alone: it loads in ~25 ms where all of
// `cdktf` takes ~200 ms, and this file runs before every test file, the runner's included.
import { setupJest } from 'cdktf/lib/testing/adapters/jest';

setupJest();
