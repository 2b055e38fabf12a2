// The admin console's only script (progressive enhancement: every form works without it). Shows
// the "Copy" buttons and copies the named field's value to the clipboard.
for (const button of document.querySelectorAll('button.copy')) {
  const field = document.getElementById(button.dataset.copy);
  if (!field) continue;
  button.hidden = false;
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(field.value);
      button.textContent = 'Copied';
    } catch {
      field.select();
      button.textContent = 'Press Ctrl+C to copy';
    }
  });
}
