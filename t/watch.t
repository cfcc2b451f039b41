#!/usr/bin/perl

# The watch.  Every 200 of an id lookup carries a strong ETag, the same in
# every worker and for a cached entry as for upstream's answer;
# If-None-Match with it gets a 304 and no body, from the cache or from
# upstream.  With Prefer: wait=N as well (ci_jobs_watch on), the request
# is held until the answer changes (200) or the wait is over (304); with
# Accept: text/event-stream, a stream of events, one per job and change,
# resumed with Last-Event-ID.  Any number of watchers in two workers cost
# upstream one request per key and ci_jobs_watch_interval, and a reload
# ends them at once.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);

my $t = CiJobsTest->new(workers => 2, http => <<'EOF');
    ci_jobs_cache_zone ci_jobs:1m;
    log_format streams '$request|$http_user_agent|$http_x_long|$status';

    server {
        listen 127.0.0.1:%%PORT%%;
        add_header X-Cache $ci_jobs_cache_status always;
        %%CREDENTIALS%%

        location /ci/ {
            ci_jobs on;
            ci_jobs_json auto;
            ci_jobs_cache ci_jobs;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /nocache/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /arrays/ {
            ci_jobs on;
            ci_jobs_json on;
            ci_jobs_json_array JobsDetail NonExistJobIds Stream;
            ci_jobs_cache ci_jobs;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /watch/ {
            ci_jobs on;
            ci_jobs_json auto;
            ci_jobs_cache ci_jobs;
            ci_jobs_watch on;
            ci_jobs_watch_interval 1s;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /logged/ {
            ci_jobs on;
            ci_jobs_cache ci_jobs;
            ci_jobs_watch on;
            ci_jobs_watch_interval 1s;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            access_log %%DIR%%/streams.log streams;
        }

        location /badkey/ {
            ci_jobs on;
            ci_jobs_cache ci_jobs;
            ci_jobs_watch on;
            ci_jobs_watch_interval 1s;
            ci_jobs_secret_key wrongwrongwrongwrongwrongwrong12;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /slow/ {
            ci_jobs on;
            ci_jobs_cache ci_jobs;
            ci_jobs_watch on;
            ci_jobs_watch_interval 1s;
            ci_jobs_read_timeout 1s;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /short/ {
            ci_jobs on;
            ci_jobs_cache ci_jobs;
            ci_jobs_watch on;
            ci_jobs_watch_timeout 2s;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location = /status {
            ci_jobs_status;
        }

        location /gzip/ {
            ci_jobs on;
            ci_jobs_json on;
            ci_jobs_cache ci_jobs;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            gzip on;
            gzip_min_length 0;
            gzip_types application/json;
        }
    }
EOF

my @JSON = (Accept => 'application/json');
my $strong = qr/^"[0-9a-f]{16}(?:-j[0-9a-f]{8})?"$/;

# --- ETag -------------------------------------------------------------------

my $miss = $t->get('/ci/jobs/jobsSuccess1');
is($miss->{status}, 200, 'a finished job: 200');
is($miss->{headers}{'x-cache'}, 'MISS', 'from upstream');
like($miss->{headers}{etag} // '', $strong, 'a strong ETag');

my %etags;
for (1 .. 20) {
    my $r = $t->get('/ci/jobs/jobsSuccess1');
    $etags{ $r->{headers}{etag} // '' }++;
    is($r->{headers}{'x-cache'}, 'HIT', 'then from the cache') if $_ == 1;
}
is_deeply([keys %etags], [$miss->{headers}{etag}],
          'the cache and both workers give the same ETag');

my $other = $t->get('/nocache/jobs/jobsSuccess1');
is($other->{headers}{etag}, $miss->{headers}{etag},
   'another location, uncached, the same XML answer: the same ETag');

my $json = $t->get('/ci/jobs/jobsSuccess1', @JSON);
like($json->{headers}{'content-type'}, qr{^application/json}, 'JSON');
like($json->{headers}{etag} // '', $strong, 'a JSON answer: a strong ETag');
isnt($json->{headers}{etag}, $miss->{headers}{etag},
     'not the XML answer\'s');
my $arrays = $t->get('/arrays/jobs/jobsSuccess1');
isnt($arrays->{headers}{etag}, $json->{headers}{etag},
     'another JSON mapping (ci_jobs_json_array): another ETag');

my $two = $t->get('/ci/jobs/jobsSuccess1%2CjobsSuccess2');
isnt($two->{headers}{etag}, $miss->{headers}{etag},
     'another answer, another ETag');

my $missing = $t->get('/ci/jobs/jobsSuccess1%2Cnosuchjob1');
is($missing->{status}, 200, 'an unknown id among them: 200');
like($missing->{headers}{etag} // '', $strong, 'with its ETag');

my $list = $t->get('/ci/jobs?queueId=p893bcda225bf4945a378da6662e81a89'
                   . '&tag=Translation');
is($list->{status}, 200, 'a list page: 200');
ok(!exists $list->{headers}{etag}, 'no ETag: not an id lookup');

my $refused = $t->get('/ci/jobs/bad!id');
is($refused->{status}, 400, 'a refusal');
ok(!exists $refused->{headers}{etag}, 'carries no ETag');

# --- If-None-Match ----------------------------------------------------------

my $etag = $miss->{headers}{etag};

my $hit304 = $t->get('/ci/jobs/jobsSuccess1', 'If-None-Match' => $etag);
is($hit304->{status}, 304, 'If-None-Match with the ETag, a HIT: 304');
is($hit304->{body}, '', 'no body');
is($hit304->{headers}{etag}, $etag, 'the ETag again');
ok(!exists $hit304->{headers}{'content-length'}, 'no Content-Length');
like($hit304->{headers}{'x-ci-request-id'} // '', qr/\S/,
     'x-ci-request-id as on every answer');

$t->forget_upstream_requests;
my $up304 = $t->get('/nocache/jobs/jobsSuccess1', 'If-None-Match' => $etag);
is($up304->{status}, 304, 'from upstream, uncached: 304');
is($up304->{body}, '', 'no body');
is(scalar(() = $t->upstream_requests), 1, 'after asking upstream');

my $keep = join '', map { "GET /nocache/jobs/jobsSuccess1 HTTP/1.1\r\n"
                          . "Host: localhost\r\nIf-None-Match: $etag\r\n"
                          . ($_ == 2 ? "Connection: close\r\n" : '')
                          . "\r\n" } 1 .. 2;
my $raw = $t->raw($keep)->{raw};
is(scalar(() = $raw =~ m{^HTTP/1\.1 304 }mg), 2,
   'two 304s from upstream on one kept-alive connection');

for my $inm ("W/$etag", "\"x\", $etag", '*') {
    is($t->get('/ci/jobs/jobsSuccess1', 'If-None-Match' => $inm)->{status},
       304, "If-None-Match: $inm: 304");
}

for my $inm ('"0000000000000000"', 'junk') {
    my $r = $t->get('/ci/jobs/jobsSuccess1', 'If-None-Match' => $inm);
    is($r->{status}, 200, "If-None-Match: $inm: 200");
    is($r->{body}, $miss->{body}, 'the answer');
}

is($t->get('/ci/jobs/jobsSuccess1', @JSON, 'If-None-Match' => $etag)
       ->{status}, 200, 'the XML answer\'s ETag for the JSON answer: 200');
is($t->get('/ci/jobs/jobsSuccess1', @JSON,
           'If-None-Match' => $json->{headers}{etag})->{status},
   304, 'the JSON answer\'s own: 304');

# gzip makes the ETag weak, as nginx does; the weak one still matches

my $gz = $t->get('/gzip/jobs/jobsSuccess1', 'Accept-Encoding' => 'gzip');
is($gz->{headers}{'content-encoding'}, 'gzip', 'gzip');
like($gz->{headers}{etag} // '', qr{^W/"}, 'a weak ETag');
is($t->get('/gzip/jobs/jobsSuccess1', 'Accept-Encoding' => 'gzip',
           'If-None-Match' => $gz->{headers}{etag})->{status},
   304, 'which gets a 304');

# a changing job: the ETag changes with the answer

my @states = map { $t->get('/nocache/jobs/faultstate') } 1 .. 3;
my ($s1) = $states[0]{body} =~ m{<State>(\w+)</State>};
my ($s3) = $states[2]{body} =~ m{<State>(\w+)</State>};
is("$s1 $s3", 'Submitted Success', 'faultstate: Submitted, then Success');
isnt($states[0]{headers}{etag}, $states[2]{headers}{etag},
     'a new state, a new ETag');
is($t->get('/nocache/jobs/faultstate',
           'If-None-Match' => $states[0]{headers}{etag})->{status},
   200, 'the old ETag: 200');

# --- long-poll --------------------------------------------------------------

# requests sent at once, each on its own connection: the sockets
sub ask {
    my ($path, %headers) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port)
        or die "connect: $!";
    print $s "GET $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
             . join('', map { "$_: $headers{$_}\r\n" } sort keys %headers)
             . "\r\n";
    return $s;
}

# what each socket received until nginx closed it, parsed, with the
# seconds it took from $start
sub answers {
    my ($start, @socks) = @_;
    my (%buf, %took);
    my $sel = IO::Select->new(@socks);
    my $deadline = time + 40;
    while ($sel->count && time < $deadline) {
        for my $s ($sel->can_read(0.05)) {
            my $got = sysread $s, my $chunk, 65536;
            if ($got) {
                $buf{ fileno $s } .= $chunk;
            } else {
                $took{ fileno $s } = time - $start;
                $sel->remove($s);
            }
        }
    }
    return map { { %{ CiJobsTest::parse_response($buf{ fileno $_ } // '') },
                   took => $took{ fileno $_ } // 99 } } @socks;
}

sub poll {
    my ($path, %headers) = @_;
    my $start = time;
    my ($r) = answers($start, ask($path, %headers));
    return $r;
}

# the first job's State, in XML or JSON
sub state_of {
    my ($r) = @_;
    return ($r->{body} =~ m{<State>(\w+)</State>})[0] // ''
        unless $r->{body} =~ /^\{/;
    my $job = eval { decode_json($r->{body})->{Response}{JobsDetail} };
    $job = $job->[0] if ref $job eq 'ARRAY';
    return ref $job eq 'HASH' ? $job->{State} // '' : '';
}

sub upstream_for {
    my ($id) = @_;
    return scalar grep { $_->{target} =~ /\Q$id\E/ } $t->upstream_requests;
}

# a job that changes: Submitted, Running after a second, Success after 4 s

my $first = $t->get('/watch/jobs/timed4x1');
is(state_of($first), 'Submitted', 'timed4x1: Submitted');
my $e1 = $first->{headers}{etag};

my $lp = poll('/watch/jobs/timed4x1', 'If-None-Match' => $e1,
              Prefer => 'wait=10');
is($lp->{status}, 200, 'long-poll: 200 when the answer changes');
is(state_of($lp), 'Running', 'the new answer: Running');
isnt($lp->{headers}{etag}, $e1, 'with its new ETag');
is($lp->{headers}{'preference-applied'}, 'wait=10', 'Preference-Applied');
like($lp->{headers}{'x-ci-request-id'} // '', qr/^\S+$/,
     'x-ci-request-id, as on every answer');
cmp_ok($lp->{took}, '<', 2.6, sprintf 'within the interval and a tick '
       . '(%.2fs)', $lp->{took});

my $lp2 = poll('/watch/jobs/timed4x1', 'If-None-Match' => $lp->{headers}{etag},
               Prefer => 'respond-async, wait=10');
is(state_of($lp2), 'Success', 'then Success');
cmp_ok($lp2->{took}, '>', 1, sprintf 'held until then (%.2fs)',
       $lp2->{took});

my $lp3 = poll('/watch/jobs/timed4x1',
               'If-None-Match' => $lp2->{headers}{etag}, Prefer => 'wait=2');
is($lp3->{status}, 304, 'a finished job that does not change: 304');
is($lp3->{body}, '', 'no body');
is($lp3->{headers}{'preference-applied'}, 'wait=2', 'Preference-Applied');
like($lp3->{headers}{'x-ci-request-id'} // '', qr/^\S+$/,
     'x-ci-request-id on the 304 too');
cmp_ok($lp3->{took}, '>=', 1.9, sprintf 'after the wait (%.2fs)',
       $lp3->{took});
cmp_ok($lp3->{took}, '<', 2.5, 'and no later');

# the wait is capped by ci_jobs_watch_timeout

$t->get('/short/jobs/jobsSuccess3');
my $etag3 = $t->get('/short/jobs/jobsSuccess3')->{headers}{etag};
my $capped = poll('/short/jobs/jobsSuccess3', 'If-None-Match' => $etag3,
                  Prefer => 'wait=30');
is($capped->{status}, 304, 'wait=30 with ci_jobs_watch_timeout 2s: 304');
is($capped->{headers}{'preference-applied'}, 'wait=2',
   'Preference-Applied: wait=2');
cmp_ok($capped->{took}, '<', 2.5, sprintf 'after 2 s (%.2fs)',
       $capped->{took});

# not held: no Prefer, wait=0, another ETag, ci_jobs_watch off

for my $case ([ 'no Prefer', '/watch/', $etag3, {} ],
              [ 'wait=0', '/watch/', $etag3, { Prefer => 'wait=0' } ],
              [ 'ci_jobs_watch off', '/ci/', $etag3,
                { Prefer => 'wait=10' } ]) {
    my ($name, $loc, $tag, $h) = @$case;
    my $r = poll("${loc}jobs/jobsSuccess3", 'If-None-Match' => $tag, %$h);
    is($r->{status}, 304, "$name: 304");
    cmp_ok($r->{took}, '<', 0.5, 'at once');
    ok(!exists $r->{headers}{'preference-applied'}, 'no Preference-Applied');
}

my $changed = poll('/watch/jobs/jobsSuccess3',
                   'If-None-Match' => '"0000000000000000"',
                   Prefer => 'wait=10');
is($changed->{status}, 200, 'another ETag than the answer\'s: 200');
cmp_ok($changed->{took}, '<', 0.5, 'at once');

# a crowd in two workers: one upstream request per interval for them all

$t->forget_upstream_requests;
my @c0 = ($t->get('/watch/jobs/timed5x2'),
          $t->get('/watch/jobs/timed5x2', Accept => 'application/json'));
is(state_of($c0[0]), 'Submitted', 'timed5x2: Submitted');
is(state_of($c0[1]), 'Submitted', 'in JSON too');
my @crowd = answers(time, map {
    ask('/watch/jobs/timed5x2', 'If-None-Match' => $c0[$_ % 2]{headers}{etag},
        Prefer => 'wait=20', $_ % 2 ? (Accept => 'application/json') : ())
} 1 .. 30);
is(scalar(grep { $_->{status} == 200 } @crowd), 30, '30 watchers: 200');
is(scalar(grep { state_of($_) eq 'Running' } @crowd), 30,
   'every one sees Running, in XML or JSON');
is(scalar(grep { $_->{took} > 0.5 } @crowd), 30, 'after being held');
my @tags = map { $_->{headers}{etag} } @crowd;
@crowd = answers(time, map {
    ask('/watch/jobs/timed5x2', 'If-None-Match' => $tags[$_ - 1],
        Prefer => 'wait=20', $_ % 2 ? (Accept => 'application/json') : ())
} 1 .. 30);
is(scalar(grep { state_of($_) eq 'Success' } @crowd), 30,
   'then every one sees Success');
my $n = upstream_for('timed5x2');
cmp_ok($n, '<=', 8, "upstream asked $n times in 5 s, "
       . 'about once per interval');
cmp_ok($n, '>=', 3, 'and more than at the start');

# a client that goes away while held

my $gone = ask('/watch/jobs/jobsSuccess3', 'If-None-Match' => $etag3,
               Prefer => 'wait=20');
sleep 0.3;
close $gone;
sleep 0.3;
is($t->get('/watch/jobs/jobsSuccess3')->{status}, 200,
   'a watcher gone: nginx goes on');

# a reload answers the held requests at once, and the old workers exit

my @held = map { ask('/watch/jobs/jobsSuccess3', 'If-None-Match' => $etag3,
                     Prefer => 'wait=30') } 1 .. 10;
sleep 0.5;
my $start = time;
$t->reload;
my $reload = time - $start;
cmp_ok($reload, '<', 2, sprintf 'reload with 10 held: the old workers gone '
       . 'in %.2fs', $reload);
my @after = answers($start, @held);
is(scalar(grep { $_->{status} == 304 } @after), 10, 'each answered 304');
cmp_ok((sort { $b <=> $a } map { $_->{took} } @after)[0], '<', 2,
       'within 2 s');

# --- Server-Sent Events -----------------------------------------------------

# a stream over HTTP/1.0 (no chunks): the sockets
sub stream_ask {
    my ($path, %headers) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port)
        or die "connect: $!";
    print $s "GET $path HTTP/1.0\r\nHost: localhost\r\n"
             . "Accept: text/event-stream\r\n"
             . join('', map { "$_: $headers{$_}\r\n" } sort keys %headers)
             . "\r\n";
    return $s;
}

# the events of an answer: [ { event, id, data, at } ... ], comments as
# { comment }
sub events {
    my ($r) = @_;
    my @events;
    for my $block (split /\n\n/, $r->{body}) {
        my %e;
        for my $line (split /\n/, $block) {
            if ($line =~ /^:(.*)/) { $e{comment} = $1 }
            elsif ($line =~ /^(\w+): ?(.*)/) { $e{$1} = $2 }
        }
        push @events, \%e if %e;
    }
    return @events;
}

sub job_events { grep { ($_->{event} // '') eq 'job' } @_ }

my ($sse) = answers(time, stream_ask('/watch/jobs/timed4x3'));
is($sse->{status}, 200, 'a stream: 200');
like($sse->{headers}{'content-type'}, qr{^text/event-stream},
     'Content-Type: text/event-stream');
is($sse->{headers}{'cache-control'}, 'no-cache', 'Cache-Control: no-cache');
like($sse->{headers}{'x-ci-request-id'} // '', qr/^[0-9a-f]{32}$/,
     'x-ci-request-id: nginx\'s $request_id, as the gateway\'s own answers');
my @ev = events($sse);
like($ev[0]{retry} // '', qr/^\d+$/, 'retry: first');
my @jobs = map { decode_json($_->{data}) } job_events(@ev);
is(join(' ', map { $_->{State} } @jobs), 'Submitted Running Success',
   'event: job on open and at each change of State');
is($jobs[0]{JobId}, 'timed4x3', 'data: the job\'s object, as JSON renders it');
ok(!exists $jobs[0]{Response}, 'not wrapped in Response');
is($ev[-1]{event}, 'end', 'event: end last');
is($ev[-1]{data}, '{}', 'data: {}');
my @ids = map { $_->{id} } job_events(@ev);
is(scalar(grep { defined && length } @ids), 3, 'every event has an id');
cmp_ok($sse->{took}, '>', 3, sprintf 'open while the job ran (%.1fs)',
       $sse->{took});
cmp_ok($sse->{took}, '<', 6.5, 'closed once it finished');

# a finished job and a missing one: their events, end, and the stream ends

my ($done) = answers(time, stream_ask('/watch/jobs/jobsSuccess5%2Cnosuch7'));
@ev = events($done);
is(join(' ', map { $_->{event} // 'retry' } @ev), 'retry job missing end',
   'a finished job and a missing id: job, missing, end');
is($ev[2]{data}, '{"JobId":"nosuch7"}', 'missing: its JobId');
cmp_ok($done->{took}, '<', 1, 'ended at once');

# the metrics: ci_jobs_watchers, ci_jobs_watch_events_total

sub metric {
    my ($name) = @_;
    my ($v) = $t->get('/status')->{body} =~ /^\Q$name\E (\d+)$/m;
    return $v;
}

my $events0 = metric('ci_jobs_watch_events_total');
answers(time, stream_ask('/watch/jobs/jobsSuccess5%2Cnosuch7'));
is(metric('ci_jobs_watch_events_total') - $events0, 3,
   'ci_jobs_watch_events_total: a stream\'s job, missing and end');
is(metric('ci_jobs_watchers'), 0, 'ci_jobs_watchers: 0');
my @watching = map { ask('/watch/jobs/jobsSuccess3',
                         'If-None-Match' => $etag3, Prefer => 'wait=3') }
               1 .. 3;
push @watching, stream_ask('/short/jobs/timed60x10');
sleep 0.5;
is(metric('ci_jobs_watchers'), 4,
   'ci_jobs_watchers: 3 long-polls and a stream, in two workers');
answers(time, @watching);
is(metric('ci_jobs_watchers'), 0, 'and 0 once they are over');

# Last-Event-ID: only what changed since

my ($again) = answers(time, stream_ask('/watch/jobs/jobsSuccess5%2Cnosuch7',
                                       'Last-Event-ID' => $ev[2]{id}));
is(join(' ', map { $_->{event} // 'retry' } events($again)), 'retry end',
   'a reconnect with the last id: nothing again, end');
my ($resumed) = answers(time, stream_ask('/watch/jobs/timed4x3',
                                         'Last-Event-ID' => $ids[0]));
is(join(' ', map { decode_json($_->{data})->{State} }
             job_events(events($resumed))),
   'Success', 'a reconnect with an older id: only the change since');

# the wait is capped by ci_jobs_watch_timeout

my ($short) = answers(time, stream_ask('/short/jobs/timed60x7'));
cmp_ok($short->{took}, '<', 3, sprintf 'a stream ends after '
       . 'ci_jobs_watch_timeout (%.1fs)', $short->{took});
cmp_ok($short->{took}, '>', 1.5, 'not before');

# a crowd of streams in two workers: one upstream request per interval

$t->forget_upstream_requests;
my @streams = answers(time, map { stream_ask('/watch/jobs/timed5x4') } 1 .. 30);
is(scalar(grep { join(' ', map { decode_json($_->{data})->{State} }
                           job_events(events($_)))
                     eq 'Submitted Running Success' } @streams),
   30, '30 streams: each sees Submitted, Running, Success');
is(scalar(grep { (events($_))[-1]{event} eq 'end' } @streams), 30,
   'and end');
$n = upstream_for('timed5x4');
cmp_ok($n, '<=', 8, "upstream asked $n times for them all");

# keys first asked for together are refreshed apart: CI is not sent every
# key's query in one burst at each interval

$t->forget_upstream_requests;
my @apart = map { stream_ask("/watch/jobs/jobsRunning$_") } 201 .. 240;
sleep 3.6;
close $_ for @apart;
my (%asked, @refreshes);
for (sort { $a->{time} <=> $b->{time} } $t->upstream_requests) {
    my ($job) = $_->{target} =~ /jobsRunning(2\d\d)/ or next;
    push @refreshes, $_->{time} if $asked{$job}++;
}
my $most = 0;
for my $from (@refreshes) {
    my $n = grep { $_ >= $from && $_ < $from + 0.1 } @refreshes;
    $most = $n if $n > $most;
}
is(scalar(grep { $_ >= 3 && $_ <= 5 } values %asked), 40,
   '40 keys asked for together: each refreshed 2 to 4 times in 3.6 s');
cmp_ok($most, '<=', 16, "at most $most of their refreshes in 100 ms");

# a heartbeat when nothing changes for 15 s

my ($quiet) = answers(time, stream_ask('/watch/jobs/timed18x8'));
ok(scalar(grep { exists $_->{comment} } events($quiet)),
   'a comment while the job ran for 18 s without a change');

# --- a stream's header buffers ---------------------------------------------

# Once open, a stream frees its header buffers (a large one here, for a
# 3 KiB header): what is still read of its request line and headers,
# by the refreshes that clone it and by the logs, is intact.

my $long = join '', map { chr(ord('a') + $_ % 26) } 1 .. 3000;
my ($logged) = answers(time, stream_ask('/logged/jobs/timed3x40',
                                        'User-Agent' => 'watch-test/1.0',
                                        'X-Long' => $long));
is(join(' ', map { decode_json($_->{data})->{State} }
             job_events(events($logged))),
   'Submitted Running Success', 'a stream with a 3 KiB header: its job\'s '
   . 'every change, each a refresh cloned from it');
is((events($logged))[-1]{event}, 'end', 'and end');
my $closed_early = stream_ask('/logged/jobs/timed60x41',
                              'User-Agent' => 'watch-test/2.0',
                              'X-Long' => $long);
sleep 1.5;
close $closed_early;
sleep 0.5;
my @log = split /\n/, CiJobsTest::slurp($t->dir . '/streams.log');
is_deeply([ sort @log ],
          [ "GET /logged/jobs/timed3x40 HTTP/1.0|watch-test/1.0|$long|200",
            "GET /logged/jobs/timed60x41 HTTP/1.0|watch-test/2.0|$long|200" ],
          'the access log: the request line and headers as they came');
my $line = 'closed .*request: "GET /logged/jobs/timed60x41 HTTP/1\.0", '
           . 'host: "localhost"';
like($t->error_log, qr/$line/,
     'the error log\'s line of a stream closed early: its request');

# --- event: error -----------------------------------------------------------

# what each socket has received so far, read for $secs; the sockets stay
# open ({closed} once nginx closed them)
my %sofar;
sub for_a_while {
    my ($secs, @socks) = @_;
    my %closed;
    my $sel = IO::Select->new(@socks);
    my $deadline = time + $secs;
    while ($sel->count && (my $left = $deadline - time) > 0) {
        for my $s ($sel->can_read($left < 0.05 ? $left : 0.05)) {
            my $got = sysread $s, my $chunk, 65536;
            if ($got) {
                $sofar{"$s"} .= $chunk;
            } else {
                $closed{"$s"} = 1;
                $sel->remove($s);
            }
        }
    }
    return map { { %{ CiJobsTest::parse_response($sofar{"$_"} // '') },
                   closed => $closed{"$_"} // 0 } } @socks;
}

sub named { my $name = shift; grep { ($_->{event} // '') eq $name } @_ }

sub error_codes {
    return join ' ', map { eval { decode_json($_->{data})->{Error}{Code} }
                           // 'not an error object' } named('error', @_);
}

# CI answers 503: each stream is told, with CI's own error object, and
# stays open while the query is retried, once per interval for them all

$t->forget_upstream_requests;
my @failing = map { stream_ask('/watch/jobs/fault503') } 1 .. 6;
my @fail = for_a_while(3.5, @failing);
is(scalar(grep { $_->{status} == 200 } @fail), 6,
   'CI answers 503: 6 streams in two workers open (200)');
is(scalar(grep { error_codes(events($_)) =~ /^ServiceUnavailable(?: |$)/ }
           @fail), 6, 'each is sent event: error, CI\'s error object');
my ($error) = named('error', events($fail[0]));
my $eobj = decode_json($error->{data});
is_deeply([sort keys %{ $eobj->{Error} }], [qw(Code Message RequestId)],
          'data: {"Error":{"Code","Message","RequestId"}}, as JSON renders '
          . 'CI\'s error');
is(scalar(grep { scalar(named('error', events($_))) >= 2 } @fail), 6,
   'the query is retried: an error again after the interval');
is(scalar(grep { !$_->{closed} && !named('end', events($_)) } @fail), 6,
   'every stream stays open, no end');
$n = upstream_for('fault503');
cmp_ok($n, '<=', 5, "upstream asked $n times in 3.5 s for the 6 streams: "
       . 'once per interval');
close $_ for @failing;

# CI refuses the credentials; upstream times out

my ($refused_stream) = for_a_while(1.5,
                                   stream_ask('/badkey/jobs/jobsSuccess6'));
is(error_codes(events($refused_stream)) =~ s/ .*//r, 'SignatureDoesNotMatch',
   'CI refuses the signature: event: error, SignatureDoesNotMatch');
my ($slow_stream) = for_a_while(2.5, stream_ask('/slow/jobs/faultslow4'));
is(error_codes(events($slow_stream)) =~ s/ .*//r, 'GatewayTimeout',
   'upstream times out (ci_jobs_read_timeout 1s): event: error, '
   . 'GatewayTimeout, the gateway\'s error object');

# CI goes away while a stream is open, and comes back: the stream goes on
# (the emulator, restarted, starts the job again: Submitted for a second,
# then Running, one of which is a change for the stream)

my $going = stream_ask('/watch/jobs/timed60x12');
my ($before) = for_a_while(1.5, $going);
cmp_ok(scalar(job_events(events($before))), '>=', 1,
       'a stream on a running job');
$t->stop_emulator('plain');
my ($during) = for_a_while(2.5, $going);
is(error_codes(events($during)) =~ s/ .*//r, 'BadGateway',
   'CI unreachable: event: error, BadGateway');
ok(!$during->{closed}, 'the stream stays open');
$t->restart_emulator('plain');
my ($after_error) = for_a_while(4, $going);
my @since = events($after_error);
cmp_ok(scalar(job_events(@since)), '>', scalar(job_events(events($during))),
       'CI back: job events again on the same stream');
is($since[-1]{event}, 'job', 'the last event a job\'s, not an error');
ok(!$after_error->{closed}, 'still open');
close $going;

# a reload ends the streams at once; a reconnect misses nothing

my @open = map { stream_ask('/watch/jobs/timed60x9') } 1 .. 10;
sleep 2.5;
$start = time;
$t->reload;
$reload = time - $start;
cmp_ok($reload, '<', 2, sprintf 'reload with 10 streams: the old workers '
       . 'gone in %.2fs', $reload);
my @ended = answers($start, @open);
is(scalar(grep { $_->{took} < 2 } @ended), 10, 'each stream ended within 2 s');
my $last = (grep { $_->{id} } events($ended[0]))[-1]{id};
my $re = stream_ask('/watch/jobs/timed60x9', 'Last-Event-ID' => $last);
sleep 1.5;
$re->blocking(0);
my $got = '';
sysread $re, $got, 65536;
close $re;
like($got, qr{^HTTP/1\.1 200 .*\nretry: }s, 'a reconnect with its last id');
unlike($got, qr/event: job/, 'gets no job again: nothing changed');

# the refreshes made to fail above are logged as nginx logs upstream errors
unlike(join('', grep { !/fault503|badkey|faultslow4|timed60x12/ }
                split /^/, $t->error_log),
       qr/subrequest|\[alert\]/, 'no alert in the log');

$t->done;

# --- configuration and ci_jobs_watch_max --------------------------------------

my $m = CiJobsTest->new(workers => 2, http => <<'EOF');
    ci_jobs_cache_zone ci_jobs:1m;
    ci_jobs_watch_max 2;

    server {
        listen 127.0.0.1:%%PORT%%;
        %%CREDENTIALS%%

        location /watch/ {
            ci_jobs on;
            ci_jobs_cache ci_jobs;
            ci_jobs_watch on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }
    }
EOF

my ($status, $out) = $m->nginx_test(<<'EOF');
    server {
        listen 127.0.0.1:%%PORT%%;
        %%CREDENTIALS%%

        location /watch/ {
            ci_jobs on;
            ci_jobs_watch on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }
    }
EOF
isnt($status, 0, 'ci_jobs_watch without ci_jobs_cache: nginx -t fails');
like($out, qr/"ci_jobs_watch" needs "ci_jobs_cache"/, 'and says why');

$t = $m;
my $tag = $m->get('/watch/jobs/jobsSuccess4')->{headers}{etag};
my @max = answers(time, map {
    ask('/watch/jobs/jobsSuccess4', 'If-None-Match' => $tag,
        Prefer => 'wait=2')
} 1 .. 7);
my @busy = grep { $_->{status} == 503 } @max;
cmp_ok(scalar(@busy), '>=', 1, 'ci_jobs_watch_max 2, 7 watchers in two '
       . 'workers: ' . scalar(@busy) . ' refused');
is(CiJobsTest::error_code($busy[0] // {body => ''}), 'TooManyWatchers',
   '503 TooManyWatchers');
cmp_ok(scalar(grep { $_->{status} == 304 && $_->{took} > 1.5 } @max),
       '<=', 4, 'at most 2 held in each worker');

$m->done;
done_testing;
