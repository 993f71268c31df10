// SPDX-License-Identifier: GPL-2.0-only
// The console's script (served as /console/console.js; the pages work without it):
// Ctrl+Enter runs a hunt, and queries saved in this browser (localStorage).
// Text is only ever set with textContent, never parsed as HTML.
'use strict';
document.addEventListener('DOMContentLoaded', function () {
	var q = document.getElementById('q');
	var form = document.getElementById('hunt');
	var list = document.getElementById('local');
	var KEY = 'vigil.saved';

	if (!q || !form || !list)
		return;
	function load() {
		try {
			return JSON.parse(localStorage.getItem(KEY) || '[]');
		} catch (e) {
			return [];
		}
	}
	function show() {
		list.replaceChildren();
		load().forEach(function (s, i) {
			var li = document.createElement('li');
			var a = document.createElement('a');
			var x = document.createElement('button');

			a.href = '#';
			a.textContent = s.name;
			a.addEventListener('click', function (ev) {
				ev.preventDefault();
				q.value = s.kql;
			});
			x.type = 'button';
			x.textContent = '\u00d7';
			x.title = 'forget';
			x.addEventListener('click', function () {
				var all = load();

				all.splice(i, 1);
				localStorage.setItem(KEY, JSON.stringify(all));
				show();
			});
			li.append(a, ' ', x);
			list.append(li);
		});
	}
	document.getElementById('save').addEventListener('click', function () {
		var name = window.prompt('Name of the query');
		var all = load();

		if (!name)
			return;
		all.push({ name: name, kql: q.value });
		localStorage.setItem(KEY, JSON.stringify(all));
		show();
	});
	q.addEventListener('keydown', function (ev) {
		if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
			ev.preventDefault();
			document.getElementById('run').click();
		}
	});
	show();
});
