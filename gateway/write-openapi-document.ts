// `npm run docs:openapi`: writes docs/openapi.json from the route table. A test
// (openapi-document-file.test.ts) keeps the committed file equal to what the
// gateway serves at GET /openapi.json.
import { writeFileSync } from "node:fs";
import { openApiDocument } from "./openapi-document.js";

writeFileSync(new URL("../docs/openapi.json", import.meta.url), `${JSON.stringify(openApiDocument(), null, 2)}\n`);
