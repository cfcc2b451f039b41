#!/usr/bin/perl

# The neighbouring read-only APIs: workflow runs and their list, the
# picture, AI and batch job lists.  End to end through the emulator (which
# checks every signature), every parameter, refusals, paging, the cache of
# a finished run, JSON as the SDK's converter makes it, and ci_jobs_apis.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use JSON::PP;
use Test::More;

my $sdk = "$CiJobsTest::ROOT/t/sdk";
my $have_sdk = -d "$sdk/node_modules/cos-nodejs-sdk-v5";

my $t = CiJobsTest->new(http => <<'EOF');
    ci_jobs_cache_zone ci_jobs:1m;

    server {
        listen 127.0.0.1:%%PORT%%;
        add_header X-Cache $ci_jobs_cache_status always;
        %%CREDENTIALS%%

        location /ci/ {
            ci_jobs on;
            ci_jobs_apis all;
            ci_jobs_cache ci_jobs;
            ci_jobs_json auto;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /default/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /runs/ {
            ci_jobs on;
            ci_jobs_apis workflowexecution workflowexecution_list;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /sdk/ {
            ci_jobs on;
            ci_jobs_apis all;
            ci_jobs_json on;
            ci_jobs_json_array off;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }
    }
EOF

my $queue = 'p893bcda225bf4945a378da6662e81a89';

# the answer and what the emulator saw of it
sub through {
    my ($target, %headers) = @_;
    $t->forget_upstream_requests;
    my $r = $t->get($target, %headers);
    my @seen = $t->upstream_requests;
    return ($r, @seen);
}

sub items {
    my ($body, $name) = @_;
    return [ $body =~ m{<$name>\s*<(?:RunId|Code)>([^<]*)}g ] if 0;
    my @ids;
    while ($body =~ m{<$name>(.*?)</$name>}gs) {
        my $item = $1;
        push @ids, $item =~ m{<(?:RunId|JobId)>([^<]*)<} ? $1 : '?';
    }
    return \@ids;
}

sub next_token { $_[0] =~ m{<NextToken>([^<]*)</NextToken>} ? $1 : undef }

# --- accepted, signed, answered -------------------------------------------------

for my $case (
    [ '/ci/workflowexecution/runSuccess1', '/workflowexecution/runSuccess1' ],
    [ '/ci/workflowexecution/runList01', '/workflowexecution/runList01' ],
    [ '/ci/workflowexecution', '/workflowexecution' ],
    [ '/ci/workflowexecution?workflowId=w1&name=input%2Fvideo01.mp4'
      . '&orderByTime=Asc&size=5&states=Running,Success'
      . '&startCreationTime=2022-07-07T12:00:00%2B0800'
      . '&endCreationTime=2022-07-08T12:00:00+0800&jobId=inv1',
      '/workflowexecution?workflowId=w1&name=input%2Fvideo01.mp4'
      . '&orderByTime=Asc&size=5&states=Running%2CSuccess'
      . '&startCreationTime=2022-07-07T12%3A00%3A00%2B0800'
      . '&endCreationTime=2022-07-08T12%3A00%3A00%2B0800&jobId=inv1' ],
    [ "/ci/pic_jobs?queueId=$queue&tag=PicProcess",
      "/pic_jobs?queueId=$queue&tag=PicProcess" ],
    [ "/ci/pic_jobs?queueId=$queue&tag=PicProcess&workflowId=w2"
      . '&inventoryTriggerJobId=inv1&inputObject=pic/image04.jpg'
      . '&orderByTime=Asc&size=2&states=Success,Running,Submitted'
      . '&startCreationTime=2022-07-07T12:00:00+0800'
      . '&endCreationTime=2022-07-09T12:00:00+0800',
      "/pic_jobs?queueId=$queue&tag=PicProcess&workflowId=w2"
      . '&inventoryTriggerJobId=inv1&inputObject=pic%2Fimage04.jpg'
      . '&orderByTime=Asc&size=2&states=Success%2CRunning%2CSubmitted'
      . '&startCreationTime=2022-07-07T12%3A00%3A00%2B0800'
      . '&endCreationTime=2022-07-09T12%3A00%3A00%2B0800' ],
    [ "/ci/ai_jobs?queueId=$queue&tag=Translation&orderByTime=Desc&size=3"
      . '&states=All&startCreationTime=2022-07-07T12:00:00+0800'
      . '&endCreationTime=2022-07-09T12:00:00+0800',
      "/ai_jobs?queueId=$queue&tag=Translation&orderByTime=Desc&size=3"
      . '&states=All&startCreationTime=2022-07-07T12%3A00%3A00%2B0800'
      . '&endCreationTime=2022-07-09T12%3A00%3A00%2B0800' ],
    [ '/ci/inventorytriggerjob', '/inventorytriggerjob' ],
    [ '/ci/inventorytriggerjob?size=3&type=Job&orderByTime=Asc'
      . '&states=Success,Failed,Submitted,Running,Pause,Cancel'
      . '&startCreationTime=2022-07-07T12:00:00+0800'
      . '&endCreationTime=2022-07-09T12:00:00+0800&name=batch-even',
      '/inventorytriggerjob?size=3&type=Job&orderByTime=Asc'
      . '&states=Success%2CFailed%2CSubmitted%2CRunning%2CPause%2CCancel'
      . '&startCreationTime=2022-07-07T12%3A00%3A00%2B0800'
      . '&endCreationTime=2022-07-09T12%3A00%3A00%2B0800&name=batch-even' ],
    [ '/ci/inventorytriggerjob?workflowId=w1&jobId=invList01&nextToken=',
      '/inventorytriggerjob?workflowId=w1&jobId=invList01' ],
    [ '/ci/workflowexecution?nextToken=&workflowId=&size=1',
      '/workflowexecution?size=1' ],
) {
    my ($target, $want) = @$case;
    my ($r, @seen) = through($target);
    is($r->{status}, 200, "$target: 200");
    is(scalar @seen, 1, "$target: one upstream request");
    is($seen[0]{target}, $want, "$target: sent as signed");
    is($seen[0]{signature}, 'ok', "$target: the signature verified");
    like($r->{body}, qr/^<Response>/, "$target: upstream's answer");
}

# the filters did what they say (the emulator's data, see its header)
my ($r) = through('/ci/workflowexecution?workflowId=w1&states=Cancel'
                  . '&orderByTime=Asc');
is_deeply(items($r->{body}, 'WorkflowExecutionList'),
          [qw(runList03 runList07 runList11 runList15)],
          'run list: workflowId and states');
($r) = through('/ci/workflowexecution?jobId=inv1&orderByTime=Asc');
is_deeply(items($r->{body}, 'WorkflowExecutionList'),
          [qw(runList05 runList10 runList15)], 'run list: jobId');
($r) = through("/ci/pic_jobs?queueId=$queue&tag=PicProcess"
               . '&inventoryTriggerJobId=inv1&orderByTime=Asc');
is_deeply(items($r->{body}, 'JobsDetail'),
          [qw(picList04 picList08 picList12)],
          'picture list: inventoryTriggerJobId');
($r) = through('/ci/inventorytriggerjob?type=Workflow&states=Success'
               . '&orderByTime=Asc');
is_deeply(items($r->{body}, 'JobsDetail'), [qw(invList03 invList09)],
          'batch list: type and states');

# --- paging ------------------------------------------------------------------------

for my $case (
    [ '/ci/workflowexecution?orderByTime=Asc&size=4', 'WorkflowExecutionList',
      15 ],
    [ "/ci/pic_jobs?queueId=$queue&tag=PicProcess&size=5", 'JobsDetail', 12 ],
    [ "/ci/ai_jobs?queueId=$queue&tag=Translation&size=7", 'JobsDetail', 26 ],
    [ '/ci/inventorytriggerjob?size=4', 'JobsDetail', 15 ],
) {
    my ($first, $name, $count) = @$case;
    my (@all, $pages);
    my $token = '';
    do {
        my ($r, @seen) = through("$first&nextToken=$token");
        is($seen[0]{signature}, 'ok', "$first page $pages: signed")
            if $pages;
        push @all, @{ items($r->{body}, $name) };
        $token = next_token($r->{body}) // '';
        $pages++;
    } while (length $token && $pages < 20);
    my %seen = map { $_ => 1 } @all;
    is(scalar @all, $count, "$first: $count items over $pages pages");
    is(scalar keys %seen, $count, "$first: each once");
}

# --- refused before anything is signed -----------------------------------------

$t->forget_upstream_requests;

for my $case (
    [ '/ci/workflowexecution/a,b', 'two run ids' ],
    [ '/ci/workflowexecution/a%2Cb', 'two run ids, encoded' ],
    [ '/ci/workflowexecution/', 'no run id' ],
    [ '/ci/workflowexecution/a?size=1', 'parameters on a run' ],
    [ '/ci/workflowexecution?queueId=q1', 'run list: unknown parameter' ],
    [ '/ci/workflowexecution?size=1&size=2', 'run list: repeated' ],
    [ '/ci/workflowexecution?size=101', 'run list: size 101' ],
    [ '/ci/workflowexecution?size=0', 'run list: size 0' ],
    [ '/ci/workflowexecution?states=Submitted', 'run list: a job state' ],
    [ '/ci/workflowexecution?states=Pause', 'run list: Pause' ],
    [ '/ci/workflowexecution?orderByTime=asc', 'run list: order' ],
    [ '/ci/workflowexecution?jobId=a-b', 'run list: jobId' ],
    [ '/ci/workflowexecution?name=a%0d%0ab', 'run list: CRLF in name' ],
    [ '/ci/workflowexecution?startCreationTime=2022-07-07',
      'run list: time' ],
    [ '/ci/pic_jobs?queueId=q1', 'picture list: no tag' ],
    [ '/ci/pic_jobs?tag=PicProcess', 'picture list: no queueId' ],
    [ "/ci/pic_jobs?queueId=$queue&tag=PicProcess&jobId=j1",
      'picture list: unknown parameter' ],
    [ "/ci/pic_jobs?queueId=$queue&tag=PicProcess&states=Done",
      'picture list: state' ],
    [ "/ci/pic_jobs?queueId=$queue&tag=PicProcess&tag=X",
      'picture list: repeated' ],
    [ "/ci/ai_jobs?queueId=$queue", 'AI list: no tag' ],
    [ "/ci/ai_jobs?queueId=$queue&tag=Translation&workflowId=w1",
      'AI list: workflowId is no parameter of it' ],
    [ "/ci/ai_jobs?queueId=$queue&tag=Translation&size=1000",
      'AI list: size 1000' ],
    [ '/ci/inventorytriggerjob?type=job', 'batch list: type' ],
    [ '/ci/inventorytriggerjob?type=Workflow,Job', 'batch list: two types' ],
    [ '/ci/inventorytriggerjob?queueId=q1', 'batch list: unknown' ],
    [ '/ci/inventorytriggerjob?name=a&name=b', 'batch list: repeated' ],
    [ '/ci/inventorytriggerjob?size=-1', 'batch list: size -1' ],
) {
    my ($target, $what) = @$case;
    my $r = $t->get($target);
    is($r->{status}, 400, "$what: 400");
    is(CiJobsTest::error_code($r), 'InvalidArgument', "$what: InvalidArgument");
}

is(scalar(() = $t->upstream_requests), 0,
   'the emulator received none of the refused requests');

# --- ci_jobs_apis ----------------------------------------------------------------

for my $target ('/default/workflowexecution/runSuccess1',
                '/default/workflowexecution',
                "/default/pic_jobs?queueId=$queue&tag=PicProcess",
                "/default/ai_jobs?queueId=$queue&tag=Translation",
                '/default/inventorytriggerjob',
                '/default/inventorytriggerjob?type=nonsense',
                '/runs/jobs/jobsSuccess1',
                '/runs/inventorytriggerjob') {
    my $r = $t->get($target);
    is($r->{status}, 404, "$target: not in ci_jobs_apis, 404");
    is(CiJobsTest::error_code($r), 'NoSuchApi', "$target: NoSuchApi");
}

is($t->get('/default/jobs/jobsSuccess1')->{status}, 200,
   'the default still serves the five of before');
is($t->get('/runs/workflowexecution/runSuccess1')->{status}, 200,
   'ci_jobs_apis workflowexecution');
is($t->get('/runs/workflowexecution?size=1')->{status}, 200,
   'ci_jobs_apis workflowexecution_list');

# --- the cache ---------------------------------------------------------------------

for my $case ([ 'runSuccess7', 'HIT' ], [ 'runFailed7', 'HIT' ],
              [ 'runCancel7', 'HIT' ], [ 'runRunning7', 'MISS' ],
              [ 'nosuchrun7', 'MISS' ]) {
    my ($id, $second) = @$case;
    $t->forget_upstream_requests;
    my $a = $t->get("/ci/workflowexecution/$id");
    my $b = $t->get("/ci/workflowexecution/$id",
                    Accept => 'application/json');
    my $c = $t->get("/ci/workflowexecution/$id");
    is($a->{headers}{'x-cache'}, 'MISS', "$id: first lookup");
    is($c->{headers}{'x-cache'}, $second, "$id: third lookup $second");
    is(scalar(() = $t->upstream_requests),
       $second eq 'HIT' ? 1 : 3, "$id: upstream asked "
       . ($second eq 'HIT' ? 'once' : 'every time'));
    is($c->{body}, $a->{body}, "$id: the same answer") if $second eq 'HIT';
    like($b->{headers}{'content-type'}, qr{^application/json},
         "$id: one entry for JSON too");
    is($c->{headers}{'x-ci-request-id'}, $a->{headers}{'x-ci-request-id'},
       "$id: upstream's request id kept") if $second eq 'HIT';
}

for my $target ('/ci/workflowexecution?workflowId=w1&states=Success',
                '/ci/inventorytriggerjob?states=Success',
                "/ci/pic_jobs?queueId=$queue&tag=PicProcess&states=Success") {
    $t->get($target);
    my $r = $t->get($target);
    is($r->{headers}{'x-cache'}, 'BYPASS', "$target: a list, never cached");
}

# --- JSON, against the SDK's converter ----------------------------------------------

SKIP: {
    skip 'the SDK reference is not installed (make deps)', 1 unless $have_sdk;

    for my $target (
        '/workflowexecution/runSuccess2',
        '/workflowexecution/runRunning2',
        '/workflowexecution/nosuchrun2',
        '/workflowexecution?size=3',
        '/workflowexecution?workflowId=nothing',
        "/pic_jobs?queueId=$queue&tag=PicProcess&size=2",
        "/ai_jobs?queueId=$queue&tag=Translation&size=1",
        '/inventorytriggerjob?size=2',
        '/inventorytriggerjob?size=1&type=Job',
    ) {
        for my $case ([ '/ci', [ 'JobsDetail' ] ], [ '/sdk', [] ]) {
            my ($prefix, $arrays) = @$case;
            my ($r, $seen) = through("$prefix$target",
                                     Accept => 'application/json');
            is($r->{headers}{'content-type'},
               'application/json; charset=utf-8', "$prefix$target: JSON");
            is($r->{body}, sdk_json($seen->{response}, @$arrays),
               "$prefix$target: the SDK's JSON"
               . (@$arrays ? ', JobsDetail an array' : ', no forced array'));
        }
    }
}

sub sdk_json {
    my ($xml, @arrays) = @_;
    my $file = $t->dir . '/body-' . int(rand(1e9)) . '.xml';
    open my $fh, '>:raw', $file or die;
    print $fh $xml;
    close $fh;
    open my $p, '-|', 'node', "$sdk/xml2json.js",
         (map { ('--array', $_) } @arrays), $file or die;
    local $/;
    my $out = <$p> // '';
    close $p;
    $out =~ s/\n\z//;
    return $out;
}

$t->done;
done_testing;
