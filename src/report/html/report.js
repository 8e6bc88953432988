(function(){var errs=[];function rec(m){errs.push(String(m));if(document.body)document.body.setAttribute('data-errors',errs.join(' | '));}
window.addEventListener('error',function(e){rec(e.message||('failed to load '+(e.target&&e.target.tagName)));},true);
var ce=console.error;console.error=function(){rec(Array.prototype.join.call(arguments,' '));return ce.apply(console,arguments);};
window.addEventListener('load',function(){var im=document.images,ok=0,n=0;for(var i=0;i<im.length;i++){if(im[i].id==='qc-img')continue;n++;if(im[i].complete&&im[i].naturalWidth>0)ok++;}var b=document.body;b.setAttribute('data-images-ok',ok);b.setAttribute('data-images-total',n);b.setAttribute('data-errors',errs.join(' | '));});})();
/* QC review (docs/qc.md): items are the .qc-item cells of the summary; decisions live in
   localStorage under "foramen.qc/1:<run id>" and are exported as foramen.qc/1 files. */
(function(){
var FORMAT='foramen.qc/1',SEP='\u0001';
function $(id){return document.getElementById(id);}
function store(k,v){try{if(v===undefined)return localStorage.getItem(k);localStorage.setItem(k,v);}catch(e){return null;}}
function init(){
var body=document.body,run=body.getAttribute('data-run-id')||'',low=parseFloat(body.getAttribute('data-low-confidence'))||0.4;
var nodes=document.querySelectorAll('.qc-item');if(!nodes.length||!$('qc')){body.setAttribute('data-qc-ready',Math.round(performance.now()));return;}
var uid={},stems={},items=[],byKey={},files=body.getAttribute('data-images')==='files';
for(var i=0;i<nodes.length;i++){var n=nodes[i];if(n.hasAttribute('data-series')){uid[n.getAttribute('data-k')]=n.getAttribute('data-series');stems[n.getAttribute('data-k')]=n.getAttribute('data-stem');}}
for(i=0;i<nodes.length;i++){n=nodes[i];var k=n.getAttribute('data-k'),lv=n.getAttribute('data-level'),sd=n.getAttribute('data-side');
var it={el:n,k:k,series:uid[k],level:lv,side:sd,conf:parseFloat(n.getAttribute('data-conf')),flag:n.classList.contains('flagged'),i:items.length};
n._qc=items.length;it.key=it.series+SEP+(lv||'')+SEP+(sd||'');it.img='img-'+k+'-'+(lv?lv+'_'+sd:'midsagittal');items.push(it);byKey[it.key]=it;}
var skey='foramen.qc/1:'+run,state={};
var saved=store(skey);
if(saved){try{state=JSON.parse(saved)||{};}catch(e){state={};}}
else{for(i=0;i<items.length;i++){var a=items[i].el.getAttribute('data-qc');if(a){var p=a.split('|'),d={verdict:p[0]};if(p[1])d.corr=p[1];var c=p.slice(2).join('|');if(c)d.comment=c;state[items[i].key]=d;}}}
var cur=-1,filter='all',view=$('qc-view'),img=null,shown=null;
function save(){store(skey,JSON.stringify(state));}
function mark(it){var d=state[it.key],v=d&&d.verdict;it.el.classList.remove('v-pass','v-fail','v-unsure');if(v)it.el.classList.add('v-'+v);if(v)it.el.setAttribute('data-v',v);else it.el.removeAttribute('data-v');}
function progress(){var n=0;for(var k in state)if(state[k].verdict&&byKey[k])n++;$('qc-progress').textContent=n+' / '+items.length+' reviewed';}
function shows(it){if(filter==='flagged')return it.flag;if(filter==='low')return it.conf<low;if(filter==='todo')return!(state[it.key]&&state[it.key].verdict)||it.i===cur;return true;}
function status(m){$('qc-status').textContent=m;}
function show(){var it=items[cur];if(!it)return;
if(shown&&shown!==it.el)shown.classList.remove('qc-current');shown=it.el;
it.el.classList.add('qc-current');it.el.scrollIntoView({block:'nearest'});
var label=document.querySelector('.qc-item[data-series][data-k="'+it.k+'"] a');
$('qc-title').textContent=(label?label.textContent:it.series)+' \u00b7 '+(it.level?it.level+' '+it.side:'level labelling');
$('qc-facts').textContent=it.level?it.el.innerText.replace(/\s+/g,' ').trim():'discs named on the midsagittal image';
var src=$(it.img);if(!img){img=document.createElement('img');img.id='qc-img';img.alt='current item';img.onerror=function(){img.style.display='none';};view.appendChild(img);}
var url=src?(src.currentSrc||src.src):(files&&stems[it.k]?'qc/'+stems[it.k]+'_'+(it.level?it.level+'_'+it.side:'midsagittal')+'.png':'');
if(url){img.style.display='';img.src=url;}else{img.removeAttribute('src');img.style.display='none';}
var d=state[it.key]||{};$('qc-comment').value=d.comment||'';
$('qc-grade-l').style.display=it.level?'':'none';$('qc-level-l').style.display=it.level?'none':'';
$('qc-grade').value=it.level?(d.corr||''):'';$('qc-level').value=it.level?'':(d.corr||'');
var bs=document.querySelectorAll('.qc-verdicts button');for(var j=0;j<bs.length;j++)bs[j].classList.toggle('on',bs[j].getAttribute('data-v')===(d.verdict||'-'));
body.setAttribute('data-qc-current',it.key.split(SEP).join('|'));}
function move(step){var j=cur;for(var t=0;t<items.length;t++){j+=step;if(j<0||j>=items.length)break;if(shows(items[j])){cur=j;show();return;}}status('no further item '+(filter==='all'?'':'('+filter+')'));}
function edit(f,quiet){var it=items[cur];if(!it)return;var d=state[it.key]||{};f(d);if(!d.verdict&&!d.comment&&!d.corr)delete state[it.key];else state[it.key]=d;save();mark(it);progress();if(!quiet)show();}
function verdict(v){edit(function(d){if(v)d.verdict=v;else{delete d.verdict;delete d.comment;delete d.corr;}});}
function exportFile(){var who=$('qc-reviewer').value.trim();if(!who){status('Enter your name as reviewer first.');$('qc-reviewer').focus();return null;}
var out=[];for(var j=0;j<items.length;j++){var it=items[j],d=state[it.key];if(!d||!d.verdict)continue;
var o={series:it.series,level:it.level||null,side:it.side||null,verdict:d.verdict};if(d.comment)o.comment=d.comment;if(d.corr)o[it.level?'corrected_grade':'corrected_level']=d.corr;out.push(o);}
var doc={format:FORMAT,run_id:run,reviewer:who,reviewed_at:new Date().toISOString().replace(/\.\d+Z$/,'Z'),items:out};
var text=JSON.stringify(doc,null,1)+'\n';
var a=document.createElement('a');a.href=URL['createObjectURL'](new Blob([text],{type:'application/json'}));a.download='qc-decisions.json';document.body.appendChild(a);a.click();
setTimeout(function(){URL['revokeObjectURL'](a.href);a.remove();},1000);status('Exported '+out.length+' decision(s).');return text;}
function importText(text){var doc;try{doc=JSON.parse(text);}catch(e){status('Import: not JSON ('+e.message+').');return;}
if(!doc||doc.format!==FORMAT||!Array.isArray(doc.items)){status('Import: not a '+FORMAT+' file.');return;}
if(doc.run_id!==run){status('Import: that file is for run '+doc.run_id+', this page is run '+run+'; nothing imported.');return;}
var n=0,bad=0;for(var j=0;j<doc.items.length;j++){var o=doc.items[j],k=o.series+SEP+(o.level||'')+SEP+(o.side||''),it=byKey[k];
if(!it||['pass','fail','unsure'].indexOf(o.verdict)<0){bad++;continue;}var d={verdict:o.verdict};if(o.comment)d.comment=String(o.comment);var c=o.corrected_grade||o.corrected_level;if(c)d.corr=String(c);state[k]=d;mark(it);n++;}
save();progress();if(cur>=0)show();status('Imported '+n+' decision(s)'+(bad?', ignored '+bad+' unknown item(s)':'')+'.');}
window.foramenQc={exportFile:exportFile,importText:importText,state:function(){return state;}};
for(i=0;i<items.length;i++)if(state[items[i].key])mark(items[i]);
progress();
var rv=store('foramen.qc.reviewer');if(rv)$('qc-reviewer').value=rv;
$('qc-reviewer').addEventListener('input',function(){store('foramen.qc.reviewer',this.value);});
$('qc-comment').addEventListener('input',function(){var v=this.value;edit(function(d){if(v)d.comment=v;else delete d.comment;},true);});
function corr(){var v=this.value;edit(function(d){if(v)d.corr=v;else delete d.corr;},true);}
$('qc-grade').addEventListener('change',corr);$('qc-level').addEventListener('change',corr);
$('qc-filter').addEventListener('change',function(){filter=this.value;status('showing '+this.options[this.selectedIndex].text);if(cur<0||!shows(items[cur])){cur=-1;move(1);}});
$('qc-export').addEventListener('click',exportFile);
$('qc-hide').addEventListener('click',function(){$('qc').classList.toggle('qc-min');});
$('qc-import').addEventListener('change',function(){var f=this.files&&this.files[0];if(!f)return;var r=new FileReader();r.onload=function(){importText(String(r.result));};r.readAsText(f);this.value='';});
var bs=document.querySelectorAll('.qc-verdicts button');for(i=0;i<bs.length;i++)bs[i].addEventListener('click',function(){if(cur<0)move(1);verdict(this.getAttribute('data-v'));});
document.getElementById('summary').addEventListener('click',function(e){if(e.target.tagName==='A')return;var n=e.target.closest('.qc-item');if(n&&n._qc!==undefined){cur=n._qc;show();}});
document.addEventListener('keydown',function(e){if(e.ctrlKey||e.metaKey||e.altKey)return;var t=e.target,field=t&&(t.tagName==='INPUT'||t.tagName==='SELECT'||t.tagName==='TEXTAREA');
if(field){if(e.key==='Escape'||(e.key==='Enter'&&t.tagName==='INPUT')){t.blur();e.preventDefault();}return;}
var k=e.key;
if(k==='ArrowRight'||k==='ArrowDown'||k==='j'){move(1);}else if(k==='ArrowLeft'||k==='ArrowUp'||k==='k'){if(cur<0)move(1);else move(-1);}
else if(k==='p'||k==='f'||k==='u'){if(cur<0)move(1);verdict({p:'pass',f:'fail',u:'unsure'}[k]);}
else if(k==='x'){verdict('');}
else if(k==='c'){if(cur<0)move(1);$('qc-comment').focus();}
else if(k==='g'){if(cur<0)move(1);var it=items[cur];if(it)$(it.level?'qc-grade':'qc-level').focus();}
else if(k==='v'){var s=$('qc-filter');s.selectedIndex=(s.selectedIndex+1)%s.options.length;s.dispatchEvent(new Event('change'));}
else if(k==='e'){exportFile();}
else if(k==='h'){$('qc').classList.toggle('qc-min');}
else return;
e.preventDefault();});
body.setAttribute('data-qc-ready',Math.round(performance.now()));}
if(document.readyState==='loading')document.addEventListener('DOMContentLoaded',init);else init();})();
