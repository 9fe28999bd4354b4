// Swagger UI set up from a file rather than an inline script, so the page works under a CSP without
// 'unsafe-inline' for scripts (FastAPI's own /docs page inlines this call).
"use strict";
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null, // the default posts the spec's URL to validator.swagger.io for a badge
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
