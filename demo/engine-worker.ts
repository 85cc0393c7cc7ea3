// The engine's Worker: the model, its GPU device and the token loop live here, so the page stays responsive.
import { serveEngine } from 'webmoe';

serveEngine();
