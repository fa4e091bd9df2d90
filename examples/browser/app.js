// The example page: loads a student folder a run wrote (?student=URL, default ./student/; ?model=uint8 for a
// quantised variant; ?backend=cpu to pick the tfjs backend) and classifies a drawn digit or a typed text.
import * as tf from '@tensorflow/tfjs';
import { loadStudent } from './lib/student.js';

const params = new URLSearchParams(location.search);
const folder = params.get('student') ?? './student/';
const $ = (id) => document.getElementById(id);

/** The answer and a bar per class. */
function show(prediction, classes) {
  $('answer').textContent = `${prediction.label} (${(100 * prediction.probabilities[prediction.index]).toFixed(1)}%)`;
  $('bars').replaceChildren(
    ...classes.map((name, i) => {
      const row = document.createElement('div');
      row.className = 'bar';
      const p = prediction.probabilities[i];
      row.innerHTML = '<span></span><span></span><span></span>';
      row.children[0].textContent = name;
      row.children[1].style.width = `${(100 * p).toFixed(1)}%`;
      row.children[2].textContent = `${(100 * p).toFixed(1)}%`;
      return row;
    }),
  );
}

/** A black canvas drawn on in white, as the digits are written; classified at the student's own size. */
function setUpDrawing(student) {
  const canvas = $('draw');
  const pen = canvas.getContext('2d');
  const clear = () => {
    pen.fillStyle = '#000';
    pen.fillRect(0, 0, canvas.width, canvas.height);
  };
  clear();
  pen.strokeStyle = '#fff';
  pen.lineWidth = 22;
  pen.lineCap = pen.lineJoin = 'round';
  let drawing = false;
  const at = (event) => {
    const box = canvas.getBoundingClientRect();
    return [((event.clientX - box.left) * canvas.width) / box.width, ((event.clientY - box.top) * canvas.height) / box.height];
  };
  canvas.addEventListener('pointerdown', (event) => {
    drawing = true;
    pen.beginPath();
    pen.moveTo(...at(event));
  });
  canvas.addEventListener('pointermove', (event) => {
    if (!drawing) return;
    pen.lineTo(...at(event));
    pen.stroke();
  });
  addEventListener('pointerup', () => {
    drawing = false;
  });
  const { width, height } = student.contract;
  const small = document.createElement('canvas');
  small.width = width;
  small.height = height;
  const shrink = small.getContext('2d', { willReadFrequently: true });
  $('classify-image').addEventListener('click', () => {
    shrink.drawImage(canvas, 0, 0, width, height);
    show(student.predict([shrink.getImageData(0, 0, width, height)])[0], student.classes);
  });
  $('clear').addEventListener('click', () => {
    clear();
    $('answer').textContent = '';
    $('bars').replaceChildren();
  });
  $('image-input').hidden = false;
}

function setUpText(student) {
  $('classify-text').addEventListener('click', () => show(student.predict([$('text').value])[0], student.classes));
  $('text-input').hidden = false;
}

async function start() {
  if (params.has('backend')) await tf.setBackend(params.get('backend'));
  await tf.ready();
  const student = await loadStudent(folder, { model: params.get('model') ?? undefined });
  const { kind } = student.contract;
  $('about').textContent =
    `${kind} student from ${folder}${params.get('model') ? ` (${params.get('model')})` : ''}: ` +
    `${student.classes.length} classes, tfjs backend ${tf.getBackend()}.`;
  if (kind === 'image') setUpDrawing(student);
  else if (kind === 'text') setUpText(student);
  else $('about').textContent += ` This page draws images and takes texts; a ${kind} student is fed with studentDemo.predict(rows).`;
  return student;
}

const ready = start();
ready.catch((error) => {
  $('about').className = 'error';
  $('about').textContent = `Could not load the student: ${error.message}`;
});

// For the console and for tests: the page's own student, as `predict` in Node runs it.
window.studentDemo = {
  ready: ready.then((student) => ({ kind: student.contract.kind, classes: student.classes })),
  predict: async (inputs) => (await ready).predict(inputs),
};
