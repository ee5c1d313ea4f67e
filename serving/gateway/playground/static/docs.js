// Swagger UI on the gateway's own OpenAPI document. The validator badge is off: it would call
// validator.swagger.io, and the page must work with no network but the gateway.
/* global SwaggerUIBundle */
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
