// The CDKTF app: filled in by the stack (src/constructs/). Until then synth has nothing to do.
import { App } from 'cdktf';

new App().synth();
