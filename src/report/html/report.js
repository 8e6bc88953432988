(function(){var errs=[];function rec(m){errs.push(String(m));if(document.body)document.body.setAttribute('data-errors',errs.join(' | '));}
window.addEventListener('error',function(e){rec(e.message||('failed to load '+(e.target&&e.target.tagName)));},true);
var ce=console.error;console.error=function(){rec(Array.prototype.join.call(arguments,' '));return ce.apply(console,arguments);};
window.addEventListener('load',function(){var im=document.images,ok=0;for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0)ok++;}var b=document.body;b.setAttribute('data-images-ok',ok);b.setAttribute('data-images-total',im.length);b.setAttribute('data-errors',errs.join(' | '));});})();
