// Submits the SAML form as soon as the page is ready; the button is there without scripts.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("saml-post");
  if (form) { form.submit(); }
});
