// Every page but the overview: a listing paged on the server, the forms that change what it lists,
// and detail pages for a queue, an exchange and a Kafka consumer group.
import { api, get, path } from './api.js';
import { field, formatNumber, h, input, select } from './dom.js';
import { listing, notice, report } from './table.js';

const yesNo = (value) => (value === true ? 'Yes' : value === false ? 'No' : '');
const link = (href, text) => h('a', { href }, text);
const rate = (key) => (row) => formatNumber(row.message_stats?.[`${key}_details`]?.rate ?? 0);

const nothing = () => undefined;

/** A button's action: `method url`, then `after()` (a reload), answered by `message`. */
function send(method, url, after, message) {
  return async () => {
    await api(method, url);
    await after();
    return message;
  };
}

/** A form whose submit runs `action(values)` and reports the outcome in the status line. */
function form(label, controls, submitText, action) {
  return h(
    'form',
    {
      'aria-label': label,
      onsubmit: async (event) => {
        event.preventDefault();
        const values = Object.fromEntries(
          [...event.target.elements]
            .filter((el) => el.name !== '')
            .map((el) => [el.name, el.type === 'checkbox' ? el.checked : el.value]),
        );
        try {
          const message = await action(values, event.target);
          notice(message ?? `${submitText}: done`);
        } catch (error) {
          report(error);
        }
      },
    },
    controls,
    h('button', { type: 'submit' }, submitText),
  );
}

/** A row's button that asks first when `confirmText` is given. */
function button(text, action, { danger = false, confirmText, label } = {}) {
  return h(
    'button',
    {
      type: 'button',
      class: danger ? 'danger' : 'secondary',
      'aria-label': label,
      onclick: async () => {
        if (confirmText !== undefined && !window.confirm(confirmText)) return;
        try {
          notice((await action()) ?? `${text}: done`);
        } catch (error) {
          report(error);
        }
      },
    },
    text,
  );
}

/** A vhost chooser at once holding `/`, filled with the others when they arrive (the page need not wait). */
function vhostSelect(name = 'vhost') {
  const chooser = select(name, ['/'], '/');
  get('/api/vhosts?page=1&page_size=500&sort=name')
    .then((answer) => {
      const names = (Array.isArray(answer) ? answer : answer.items).map((v) => v.name);
      chooser.replaceChildren(...select(name, names, names.includes('/') ? '/' : names[0]).children);
    })
    .catch(report);
  return chooser;
}

function page(main, title, ...sections) {
  main.replaceChildren(h('h1', {}, title), ...sections);
}

/** A page of a form (`[heading, form]`) above its listing. */
function showWithForm(main, title, list, [formHeading, formElement], listHeading) {
  return show(main, title, list, h('h2', {}, formHeading), formElement, h('h2', {}, listHeading));
}

async function show(main, title, list, ...sections) {
  page(main, title, ...sections, list.element);
  await list.refresh();
}

async function connections(main) {
  const list = listing({
    label: 'Connections',
    url: '/api/connections',
    columns: [
      { key: 'name', label: 'Name' },
      { key: 'protocol', label: 'Protocol' },
      { key: 'user', label: 'User' },
      { key: 'vhost', label: 'Virtual host' },
      { key: 'peer_host', label: 'Client address' },
      { key: 'client_id', label: 'Client id' },
      {
        key: 'channels',
        label: 'Channels or subscriptions',
        num: true,
        render: (r) => formatNumber(r.subscriptions ?? r.channels),
      },
      { key: 'state', label: 'State' },
    ],
    actions: (row, refresh) =>
      button(
        'Close',
        async () => {
          await api('DELETE', path('connections', row.name));
          await refresh();
          return `Closed connection ${row.name}`;
        },
        { danger: true, confirmText: `Close connection ${row.name}?`, label: `Close connection ${row.name}` },
      ),
  });
  await show(main, 'Connections', list);
}

async function channels(main) {
  const list = listing({
    label: 'Channels and sessions',
    url: '/api/channels',
    columns: [
      { key: 'name', label: 'Name' },
      { key: 'connection_details.name', label: 'Connection' },
      { key: 'user', label: 'User' },
      { key: 'vhost', label: 'Virtual host' },
      { key: 'consumer_count', label: 'Consumers', num: true },
      { key: 'messages_unacknowledged', label: 'Unacknowledged', num: true },
    ],
  });
  await show(main, 'Channels', list);
}

function publishForm(vhost, exchange, routingKey = '') {
  return form(
    'Publish a message',
    [
      field('Routing key', input('routing_key', { value: routingKey })),
      field('Payload', h('textarea', { name: 'payload', rows: 2, cols: 40 })),
      field('Content type', input('content_type', { value: 'text/plain' })),
      h('label', { class: 'inline' }, input('persistent', { type: 'checkbox' }), 'Persistent'),
    ],
    'Publish',
    async (v) => {
      const answer = await api('POST', `${path('exchanges', vhost, exchange || 'amq.default')}/publish`, {
        routing_key: v.routing_key,
        payload: v.payload,
        payload_encoding: 'string',
        properties: { content_type: v.content_type, delivery_mode: v.persistent ? 2 : 1 },
      });
      return answer.routed ? 'Message published and routed' : 'Message published but routed to no queue';
    },
  );
}

async function exchanges(main) {
  const list = listing({
    label: 'Exchanges',
    url: '/api/exchanges',
    columns: [
      {
        key: 'name',
        label: 'Name',
        render: (r) =>
          link(
            `#/exchange/${encodeURIComponent(r.vhost)}/${encodeURIComponent(r.name)}`,
            r.name || '(default)',
          ),
      },
      { key: 'vhost', label: 'Virtual host' },
      { key: 'type', label: 'Type' },
      { key: 'durable', label: 'Durable', render: (r) => yesNo(r.durable) },
      { key: 'auto_delete', label: 'Auto-delete', render: (r) => yesNo(r.auto_delete) },
    ],
    actions: (row, refresh) =>
      row.name === '' || row.name.startsWith('amq.')
        ? ''
        : button(
            'Delete',
            send('DELETE', path('exchanges', row.vhost, row.name), refresh, `Deleted exchange ${row.name}`),
            {
              danger: true,
              confirmText: `Delete exchange ${row.name}?`,
              label: `Delete exchange ${row.name}`,
            },
          ),
  });
  const declare = form(
    'Declare an exchange',
    [
      field('Name', input('name', { required: true })),
      field('Virtual host', vhostSelect()),
      field('Type', select('type', ['direct', 'fanout', 'topic', 'headers'], 'direct')),
      h('label', { class: 'inline' }, input('durable', { type: 'checkbox', checked: true }), 'Durable'),
    ],
    'Declare exchange',
    async (v) => {
      await api('PUT', path('exchanges', v.vhost, v.name), {
        type: v.type,
        durable: v.durable,
        auto_delete: false,
      });
      await list.refresh();
      return `Declared exchange ${v.name}`;
    },
  );
  await showWithForm(main, 'Exchanges', list, ['Declare an exchange', declare], 'Exchanges');
  await bindingsSection(main, '/api/bindings');
}

/** Bindings under `url`, with a form to add one and a delete per row. */
async function bindingsSection(main, url, source) {
  const list = listing({
    label: 'Bindings',
    url,
    nameKey: 'source',
    columns: [
      { key: 'source', label: 'From exchange', render: (r) => r.source || '(default)' },
      { key: 'destination', label: 'To' },
      { key: 'destination_type', label: 'Kind' },
      { key: 'routing_key', label: 'Routing key' },
      { key: 'vhost', label: 'Virtual host' },
    ],
    actions: (row, refresh) =>
      row.source === ''
        ? ''
        : button(
            'Unbind',
            async () => {
              const kind = row.destination_type === 'exchange' ? 'e' : 'q';
              await api(
                'DELETE',
                path(
                  'bindings',
                  row.vhost,
                  'e',
                  row.source,
                  kind,
                  row.destination,
                  row.properties_key ?? '~',
                ),
              );
              await refresh();
              return 'Binding deleted';
            },
            { danger: true, label: `Unbind ${row.destination} from ${row.source}` },
          ),
  });
  const add = form(
    'Add a binding',
    [
      field('Virtual host', vhostSelect()),
      field('From exchange', input('source', { required: true, value: source ?? '' })),
      field('To', select('kind', ['queue', 'exchange'], 'queue')),
      field('Destination', input('destination', { required: true })),
      field('Routing key', input('routing_key')),
    ],
    'Bind',
    async (v) => {
      await api(
        'POST',
        path('bindings', v.vhost, 'e', v.source, v.kind === 'queue' ? 'q' : 'e', v.destination),
        { routing_key: v.routing_key, arguments: {} },
      );
      await list.refresh();
      return 'Binding added';
    },
  );
  main.append(h('h2', {}, 'Bindings'), add, list.element);
  await list.refresh();
}

async function exchange(main, vhost, name) {
  page(
    main,
    `Exchange ${name || '(default)'} in ${vhost}`,
    h('h2', {}, 'Publish a message'),
    publishForm(vhost, name),
  );
  await bindingsSection(main, `${path('bindings', vhost)}`, name);
}

async function queues(main) {
  const list = listing({
    label: 'Queues and streams',
    url: '/api/queues',
    columns: [
      {
        key: 'name',
        label: 'Name',
        render: (r) => link(`#/queue/${encodeURIComponent(r.vhost)}/${encodeURIComponent(r.name)}`, r.name),
      },
      { key: 'vhost', label: 'Virtual host' },
      { key: 'type', label: 'Type' },
      { key: 'messages', label: 'Messages', num: true },
      { key: 'messages_ready', label: 'Ready', num: true },
      { key: 'messages_unacknowledged', label: 'Unacked', num: true },
      { key: 'consumers', label: 'Consumers', num: true },
      { key: 'message_stats.publish_details.rate', label: 'In/s', num: true, render: rate('publish') },
      {
        key: 'message_stats.deliver_get_details.rate',
        label: 'Out/s',
        num: true,
        render: rate('deliver_get'),
      },
    ],
    actions: (row, refresh) => [
      button(
        'Purge',
        send('DELETE', `${path('queues', row.vhost, row.name)}/contents`, refresh, `Purged ${row.name}`),
        { confirmText: `Purge queue ${row.name}?`, label: `Purge ${row.name}` },
      ),
      ' ',
      button('Delete', send('DELETE', path('queues', row.vhost, row.name), refresh, `Deleted ${row.name}`), {
        danger: true,
        confirmText: `Delete queue ${row.name}?`,
        label: `Delete ${row.name}`,
      }),
    ],
  });
  const declare = form(
    'Declare a queue',
    [
      field('Name', input('name', { required: true })),
      field('Virtual host', vhostSelect()),
      field('Type', select('type', ['classic', 'stream'], 'classic')),
      h('label', { class: 'inline' }, input('durable', { type: 'checkbox', checked: true }), 'Durable'),
    ],
    'Declare queue',
    async (v) => {
      const args = v.type === 'stream' ? { 'x-queue-type': 'stream' } : {};
      await api('PUT', path('queues', v.vhost, v.name), {
        durable: v.durable,
        auto_delete: false,
        arguments: args,
      });
      await list.refresh();
      return `Declared queue ${v.name}`;
    },
  );
  await showWithForm(main, 'Queues and streams', list, ['Declare a queue', declare], 'Queues');
}

async function queue(main, vhost, name) {
  const info = await get(path('queues', vhost, name)).catch(() => undefined);
  const output = h('div', { 'aria-live': 'polite' });
  const getForm = form(
    'Get messages',
    [
      field('Count', input('count', { type: 'number', min: 1, max: 1000, value: 1 })),
      field(
        'Acknowledgement',
        select(
          'ackmode',
          ['ack_requeue_true', 'ack_requeue_false', 'reject_requeue_true', 'reject_requeue_false'],
          'ack_requeue_true',
        ),
      ),
    ],
    'Get messages',
    async (v) => {
      const messages = await api('POST', `${path('queues', vhost, name)}/get`, {
        count: Number(v.count),
        ackmode: v.ackmode,
        encoding: 'auto',
      });
      output.replaceChildren(
        h('p', {}, `${messages.length} message(s)`),
        ...messages.map((m, i) =>
          h(
            'section',
            { 'aria-label': `Message ${i + 1}` },
            h(
              'h3',
              {},
              `Message ${i + 1}: routing key ${m.routing_key}, ${m.payload_bytes} bytes${m.redelivered ? ', redelivered' : ''}`,
            ),
            h('pre', {}, m.payload),
          ),
        ),
      );
      return `Got ${messages.length} message(s)`;
    },
  );
  page(
    main,
    `Queue ${name} in ${vhost}`,
    info === undefined
      ? ''
      : h(
          'p',
          {},
          `${formatNumber(info.messages ?? 0)} messages, ${formatNumber(info.consumers ?? 0)} consumers, type ${info.type ?? 'classic'}`,
        ),
    h('h2', {}, 'Publish a message'),
    publishForm(vhost, '', name),
    h('h2', {}, 'Get messages'),
    getForm,
    output,
    h('h2', {}, 'Purge or delete'),
    button('Purge', send('DELETE', `${path('queues', vhost, name)}/contents`, nothing, `Purged ${name}`), {
      confirmText: `Purge queue ${name}?`,
    }),
    ' ',
    button(
      'Delete',
      send(
        'DELETE',
        path('queues', vhost, name),
        () => {
          location.hash = '#/queues';
        },
        `Deleted ${name}`,
      ),
      { danger: true, confirmText: `Delete queue ${name}?` },
    ),
  );
}

async function kafkaTopics(main) {
  const list = listing({
    label: 'Kafka topics',
    url: '/api/kafka/topics',
    columns: [
      { key: 'name', label: 'Topic' },
      {
        key: 'partitions',
        label: 'Partitions',
        num: true,
        sortable: false,
        render: (r) => formatNumber(Array.isArray(r.partitions) ? r.partitions.length : r.partitions),
      },
      {
        key: 'messages',
        label: 'Messages',
        num: true,
        sortable: false,
        render: (r) =>
          formatNumber(
            Array.isArray(r.partitions)
              ? r.partitions.reduce((n, p) => n + (p.messages ?? 0), 0)
              : r.messages,
          ),
      },
    ],
    actions: (row, refresh) =>
      button(
        'Delete',
        send('DELETE', path('kafka', 'topics', row.vhost, row.name), refresh, `Deleted topic ${row.name}`),
        { danger: true, confirmText: `Delete topic ${row.name}?`, label: `Delete topic ${row.name}` },
      ),
  });
  const declare = form(
    'Create a topic',
    [
      field('Virtual host', vhostSelect()),
      field('Topic', input('name', { required: true })),
      field('Partitions', input('partitions', { type: 'number', min: 1, value: 1 })),
      field(
        'Configs (name=value, one a line)',
        h('textarea', { name: 'configs', rows: 2, placeholder: 'retention.ms=86400000' }),
      ),
    ],
    'Create topic',
    async (v) => {
      await api('PUT', path('kafka', 'topics', v.vhost, v.name), {
        partitions: Number(v.partitions),
        configs: topicConfigs(v.configs),
      });
      await list.refresh();
      return `Created topic ${v.name}`;
    },
  );
  await showWithForm(main, 'Kafka topics', list, ['Create a topic', declare], 'Topics');
}

/** `name=value` lines as Kafka topic configs; blank lines are skipped. */
function topicConfigs(text) {
  const configs = {};
  for (const line of text.split('\n')) {
    const at = line.indexOf('=');
    if (line.trim() === '') continue;
    if (at < 1) throw new Error(`Not a name=value config: ${line}`);
    configs[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return configs;
}

async function kafkaGroups(main) {
  const list = listing({
    label: 'Kafka consumer groups',
    url: '/api/kafka/groups',
    nameKey: 'group_id',
    columns: [
      {
        key: 'group_id',
        label: 'Group',
        render: (r) => link(`#/kafka-group/${encodeURIComponent(r.group_id)}`, r.group_id),
      },
      { key: 'state', label: 'State' },
      { key: 'protocol_type', label: 'Protocol' },
      {
        key: 'members',
        label: 'Members',
        num: true,
        sortable: false,
        render: (r) => formatNumber(r.members?.length ?? 0),
      },
      {
        key: 'lag',
        label: 'Lag',
        num: true,
        sortable: false,
        render: (r) => formatNumber((r.offsets ?? []).reduce((n, o) => n + (o.lag ?? 0), 0)),
      },
    ],
  });
  await show(main, 'Kafka consumer groups', list);
}

function rowsTable(caption, headings, rows) {
  return h(
    'table',
    {},
    h('caption', {}, caption),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        headings.map((t) => h('th', { scope: 'col' }, t)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((cells) =>
        h(
          'tr',
          {},
          cells.map((c) => h('td', {}, formatNumber(c))),
        ),
      ),
    ),
  );
}

async function kafkaGroup(main, group) {
  const g = await get(path('kafka', 'groups', group));
  const result = h('div', { 'aria-live': 'polite' });
  const reset = form(
    'Reset offsets',
    [
      field('To', select('to', ['earliest', 'latest', 'datetime', 'shift'], 'earliest')),
      field('Date and time (for datetime)', input('datetime', { type: 'datetime-local' })),
      field('Shift by (for shift)', input('shift_by', { type: 'number', value: 0 })),
      field('Topics (comma-separated; empty: all)', input('topics')),
      h(
        'label',
        { class: 'inline' },
        input('dry_run', { type: 'checkbox', checked: true }),
        'Dry run (show, do not change)',
      ),
    ],
    'Reset offsets',
    async (v) => {
      const body = { to: v.to, dry_run: v.dry_run };
      if (v.to === 'datetime') body.datetime = new Date(v.datetime).toISOString();
      if (v.to === 'shift') body.shift_by = Number(v.shift_by);
      const topics = v.topics
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean);
      if (topics.length > 0) body.topics = topics;
      const answer = await api('POST', `${path('kafka', 'groups', group)}/reset-offsets`, body);
      result.replaceChildren(
        rowsTable(
          v.dry_run ? 'Offsets a reset would set' : 'Offsets set',
          ['Topic', 'Partition', 'Current', 'New'],
          answer.offsets.map((o) => [o.topic, o.partition, o.current_offset, o.new_offset]),
        ),
      );
      return v.dry_run ? 'Dry run: nothing changed' : 'Offsets reset';
    },
  );
  page(
    main,
    `Consumer group ${group}`,
    h('p', {}, `State ${g.state}, protocol ${g.protocol_type || 'none'}`),
    rowsTable(
      'Members',
      ['Member', 'Client', 'Host'],
      (g.members ?? []).map((m) => [m.member_id, m.client_id, m.host]),
    ),
    rowsTable(
      'Offsets and lag',
      ['Topic', 'Partition', 'Committed', 'End', 'Lag'],
      (g.offsets ?? []).map((o) => [o.topic, o.partition, o.committed_offset, o.end_offset, o.lag]),
    ),
    h('h2', {}, 'Reset offsets'),
    h('p', {}, 'Only a group without live members can be reset.'),
    reset,
    result,
  );
}

function simpleListing(title, url, columns, nameKey) {
  return async (main) => show(main, title, listing({ label: title, url, columns, nameKey }));
}

async function users(main) {
  const list = listing({
    label: 'Users',
    url: '/api/users',
    columns: [
      { key: 'name', label: 'Name' },
      {
        key: 'tags',
        label: 'Tags',
        sortable: false,
        render: (r) => (Array.isArray(r.tags) ? r.tags.join(', ') : r.tags),
      },
    ],
    actions: (row, refresh) =>
      button('Delete', send('DELETE', path('users', row.name), refresh, `Deleted user ${row.name}`), {
        danger: true,
        confirmText: `Delete user ${row.name}?`,
        label: `Delete user ${row.name}`,
      }),
  });
  const add = form(
    'Add or change a user',
    [
      field('Name', input('name', { required: true, autocomplete: 'off' })),
      field('Password', input('password', { type: 'password', autocomplete: 'new-password' })),
      field('Tags (comma-separated)', input('tags', { value: 'management' })),
    ],
    'Save user',
    async (v) => {
      await api('PUT', path('users', v.name), {
        ...(v.password === '' ? {} : { password: v.password }),
        tags: v.tags,
      });
      await list.refresh();
      return `Saved user ${v.name}`;
    },
  );
  await showWithForm(main, 'Users', list, ['Add or change a user', add], 'Users');
}

async function permissions(main) {
  const list = listing({
    label: 'Permissions',
    url: '/api/permissions',
    nameKey: 'user',
    columns: ['user', 'vhost', 'configure', 'write', 'read'].map((key) => ({
      key,
      label: key[0].toUpperCase() + key.slice(1),
    })),
    actions: (row, refresh) =>
      button(
        'Clear',
        send('DELETE', path('permissions', row.vhost, row.user), refresh, 'Permissions cleared'),
        { danger: true, label: `Clear permissions of ${row.user} in ${row.vhost}` },
      ),
  });
  const set = form(
    'Set permissions',
    [
      field('User', input('user', { required: true })),
      field('Virtual host', vhostSelect()),
      field('Configure', input('configure', { value: '.*' })),
      field('Write', input('write', { value: '.*' })),
      field('Read', input('read', { value: '.*' })),
    ],
    'Set permissions',
    async (v) => {
      await api('PUT', path('permissions', v.vhost, v.user), {
        configure: v.configure,
        write: v.write,
        read: v.read,
      });
      await list.refresh();
      return `Permissions set for ${v.user}`;
    },
  );
  await showWithForm(main, 'Permissions', list, ['Set permissions', set], 'Permissions');
}

async function definitions(main) {
  const download = h('a', { hidden: true, download: 'switchyard-definitions.json' }, 'Download');
  const exportButton = button('Export definitions', async () => {
    const defs = await get('/api/definitions');
    download.href = URL.createObjectURL(
      new Blob([JSON.stringify(defs, null, 2)], { type: 'application/json' }),
    );
    download.hidden = false;
    download.focus();
    return 'Definitions ready: follow the Download link';
  });
  const file = input('file', { type: 'file', accept: 'application/json,.json', required: true });
  const importForm = form(
    'Import definitions',
    [field('Definitions file (JSON)', file)],
    'Import',
    async () => {
      const text = await file.files[0].text();
      await api('POST', '/api/definitions', JSON.parse(text));
      return 'Definitions imported';
    },
  );
  page(
    main,
    'Definitions',
    h('h2', {}, 'Export'),
    h('p', {}, exportButton, ' ', download),
    h('h2', {}, 'Import'),
    importForm,
  );
}

export const pages = {
  connections,
  channels,
  exchanges,
  exchange,
  queues,
  queue,
  'kafka-topics': kafkaTopics,
  'kafka-groups': kafkaGroups,
  'kafka-group': kafkaGroup,
  'mqtt-sessions': simpleListing(
    'MQTT sessions',
    '/api/mqtt/sessions',
    [
      { key: 'client_id', label: 'Client id' },
      { key: 'connected', label: 'Connected', render: (r) => yesNo(r.connected) },
      { key: 'clean_start', label: 'Clean start', render: (r) => yesNo(r.clean_start) },
      { key: 'expiry_interval_s', label: 'Expiry (s)', num: true },
      { key: 'subscriptions', label: 'Subscriptions', num: true },
      { key: 'inflight', label: 'In flight', num: true },
      { key: 'queued', label: 'Queued', num: true },
    ],
    'client_id',
  ),
  'mqtt-subscriptions': simpleListing(
    'MQTT subscriptions',
    '/api/mqtt/subscriptions',
    [
      { key: 'client_id', label: 'Client id' },
      { key: 'filter', label: 'Topic filter' },
      { key: 'qos', label: 'QoS', num: true },
      { key: 'share_group', label: 'Share group' },
    ],
    'client_id',
  ),
  'mqtt-retained': simpleListing(
    'MQTT retained messages',
    '/api/mqtt/retained',
    [
      { key: 'topic', label: 'Topic' },
      { key: 'qos', label: 'QoS', num: true },
      { key: 'payload_bytes', label: 'Bytes', num: true },
      { key: 'payload', label: 'Payload (start)', sortable: false, render: (r) => preview(r.payload) },
    ],
    'topic',
  ),
  kubemq: simpleListing('KubeMQ channels', '/api/kubemq/channels', [
    { key: 'name', label: 'Channel' },
    { key: 'type', label: 'Type' },
    { key: 'messages', label: 'Messages', num: true },
    { key: 'sent', label: 'Sent', num: true },
    { key: 'subscribers', label: 'Subscribers', num: true },
    { key: 'last_activity', label: 'Last activity' },
  ]),
  users,
  permissions,
  definitions,
};

/** A base64 payload shown as text when it is text, else as its base64, cut at 80 characters. */
function preview(base64) {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(
      Uint8Array.from(atob(base64 ?? ''), (c) => c.charCodeAt(0)),
    );
    return text.length > 80 ? `${text.slice(0, 80)}…` : text;
  } catch {
    return `base64: ${(base64 ?? '').slice(0, 80)}`;
  }
}
