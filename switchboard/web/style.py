"""The pages' one style sheet: system fonts, high contrast, visible focus, tables that
become lists on a phone."""

CSS = """
:root{--fg:#1b1b1b;--bg:#fff;--muted:#555;--line:#d0d0d0;--ok:#0b6b2b;--warn:#8a4b00;
--bad:#a00020;--accent:#004b87;font-family:system-ui,-apple-system,"Segoe UI",sans-serif}
*{box-sizing:border-box}body{margin:0;color:var(--fg);background:var(--bg);line-height:1.5}
a{color:var(--accent)}header{background:var(--accent);color:#fff;padding:.5rem 1rem}
header a{color:#fff;margin-right:1rem;display:inline-block;padding:.25rem 0}
header nav{display:flex;flex-wrap:wrap;align-items:center}
header .who{margin-left:auto}header form{display:inline}
main{max-width:70rem;margin:0 auto;padding:1rem}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;color:#000;
padding:.5rem;z-index:9}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem;
border-bottom:1px solid var(--line);vertical-align:top}
td audio{width:16rem;max-width:100%}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:1rem;font-weight:600;
font-size:.9rem}.available{background:#dff3e4;color:var(--ok)}
.redirected{background:#fde9cf;color:var(--warn)}.blocked{background:#f8d7dc;color:var(--bad)}
label{display:block;font-weight:600;margin-top:.75rem}
input,select,textarea,button{font:inherit;padding:.45rem;max-width:100%}
input[type=text],input[type=search],input[type=password],input[type=datetime-local],select,
textarea{display:block;width:100%;max-width:30rem;border:1px solid #767676;border-radius:.25rem}
button{background:var(--accent);color:#fff;border:0;border-radius:.25rem;padding:.5rem 1rem;
margin-top:.75rem;cursor:pointer}button.secondary{background:#555}
:focus-visible{outline:3px solid #ffbf47;outline-offset:2px}
.notice{padding:.75rem;border-left:4px solid var(--accent);background:#eef4fa;margin:1rem 0}
.error{border-color:var(--bad);background:#fbeaec}.muted{color:var(--muted)}
.field-error{color:var(--bad);font-weight:600;margin:.2rem 0 .6rem}
[aria-invalid=true],input[aria-invalid=true],select[aria-invalid=true],
textarea[aria-invalid=true]{border:2px solid var(--bad)}
.hint{margin:.2rem 0}label.inline{font-weight:400;display:inline-block;margin-right:1rem}
label.plain{font-weight:400}fieldset.plain{border:0;padding:0;margin:.5rem 0}
fieldset.plain legend{font-weight:600}button.tight{margin-top:.25rem}button.flush{margin-top:0}
.pager ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.25rem}
.pager a,.pager span{display:inline-block;padding:.25rem .6rem}
.pager a[aria-current]{font-weight:700;border:2px solid currentColor}
.message{font-style:italic}.nr{white-space:nowrap}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);
white-space:nowrap}
.actions form{display:inline-block;margin-right:.5rem}
fieldset{border:1px solid var(--line);margin:1rem 0}
@media (max-width:40rem){thead{display:none}table,tbody,tr,td{display:block}
tr{border-bottom:2px solid var(--line);padding:.5rem 0}td{border:0;padding:.15rem 0}
td[data-label]::before{content:attr(data-label) ": ";font-weight:600}header .who{float:none;
display:block}}
"""
